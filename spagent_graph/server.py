"""The graphs `langgraph dev` (and LangGraph Platform) serve, named in langgraph.json.

The server loads this file by its path, not as part of the package, so it
imports only absolutely. The operator's settings (the `SPAGENT_*`
environment and the settings file, as `spagent` reads them) are every run's
defaults; a run's `context` (a dict of `Context` fields) overrides the
fields it sets.
"""

from spagent_graph.expansion import build_expansion_graph
from spagent_graph.graph import build_graph
from spagent_graph.services import Services
from spagent_graph.settings import load_settings

# One owner of the loaded pipelines and stores for both graphs of this server. The server
# brings its own checkpointer, so the graphs are compiled without one.
services = Services(defaults=load_settings().settings.context())
graph = build_graph(services=services)
expansion = build_expansion_graph(services=services)
