"""The paper's validations of a pruning method, each a plain function returning a value
object with ``rows()`` (``agent validate`` writes them and prints ``report``'s tables).

``phase_shift``   accuracy against percent pruned, and the sharpness of the transition
``hessian``       top Hessian eigenvalues (flat minima), pruned weights held at zero
``mask_overlap``  the 2x2 intersection matrix of causal and magnitude masks
"""
