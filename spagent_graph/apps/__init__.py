"""The apps on top of the graph: the `spagent` command (cli, runner), `spagent doctor`, `spagent bench`,
evaluation, tool expansion, training data and the run report. Nothing below them imports them."""
