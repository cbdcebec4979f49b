"""The graphs `langgraph dev` (and LangGraph Platform) serve, named in langgraph.json.

The server loads this file by its path, not as part of the package, so it
imports only absolutely. Each run's settings come as its `context` (a dict of
`Context` fields: mllm_url, registry, store_path, artifacts_dir, ...).
"""

from spagent_graph.expansion import build_expansion_graph
from spagent_graph.graph import build_graph

# The server brings its own checkpointer; the graphs are compiled without one.
graph = build_graph()
expansion = build_expansion_graph()
