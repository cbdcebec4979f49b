"""What `langgraph dev` (and LangGraph Platform) serve, named in langgraph.json.

The server loads this file by its path, not as part of the package, so it
imports only absolutely. The operator's settings (the `SPAGENT_*`
environment and the settings file, as `spagent` reads them) make the
deployment: every caller's run starts from them, with the caller's own
folders and store, and a caller's context may set only the run options.
`auth` names callers by bearer token; `app` serves their files and takes
their uploads (see `spagent_graph.serving`).
"""

import threading

from spagent_graph.apps.expansion import build_expansion_graph
from spagent_graph.graph import build_graph
from spagent_graph.services import Services
from spagent_graph.serving import Deployment, make_app, make_auth, publish_report
from spagent_graph.settings import load_settings
from spagent_graph.state import AnswerState

deployment = Deployment(load_settings().settings)
# One owner of the loaded pipelines and stores for both graphs of this server. The server
# brings its own checkpointer, so the graphs are compiled without one.
services = Services(deployment=deployment)
# A caller gets the conversation and the winner in brief (an MCP or A2A caller too); the whole
# state stays the thread's.
graph = build_graph(services=services, finish=publish_report, output_schema=AnswerState)
expansion = build_expansion_graph(services=services)
auth = make_auth(deployment)
app = make_app(deployment)
# The tools the operator asked to warm load and compile beside the server, not in its first request's
# time; a request that needs one of them meanwhile waits for that load rather than starting another.
if deployment.settings.serve_warm_up:
    threading.Thread(target=services.warm_up, args=(deployment.settings.serve_warm_up,), name="spagent-warm-up",
                     daemon=True).start()
