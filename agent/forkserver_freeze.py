"""Imported last by the workers' forkserver (agent.procstart), never by the agent itself.

``gc.freeze()`` moves every object the server has imported (torch and the rest: hundreds of
thousands) into the permanent generation. Without it, a worker's first full collection walks
them all and writes to each one's header, copying every page of the inherited heap: ~0.2 s
of every worker's model load on a 2-core VM, and a pause that may fall inside a timed region.
This is what the gc module's documentation prescribes before forking without exec.
"""
import gc

gc.freeze()
