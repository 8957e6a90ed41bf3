"""The fleet: inventory resolution (sshconfig, sshresolve, hostlist, hostplan), how a host is
reached (transport/), deploying the agent (deploy, hostlock), running it on each host
(orchestrate, hostrun, remote_agent, stream, live) and merging the rows (store).

It sits beside collector.analysis and collector.report and imports neither: what the fleet
gathers, they read from the results folder."""
