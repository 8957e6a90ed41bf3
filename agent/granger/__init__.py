"""Granger-causal pruning (Shah et al.): the streaming lasso behind the ``causal`` method and
the paper's validations (``agent validate``).

``lasso``     the lasso fitted one sample at a time by SGD with the cumulative L1 penalty
``recorder``  turns each SGD step of the network into scaled features and a target
``store``     a bounded on-disk float16 copy of the steps, for lasso fits of several passes
``sgd``       the pruning epochs: plain SGD (or SGD with momentum) whose steps are recorded
``validate``  phase shift, Hessian eigenvalues, mask overlap
"""
