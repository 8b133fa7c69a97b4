// Package namespaces creates and joins the user, mount and cgroup namespaces
// of a container while sharing the host's network, PID and IPC namespaces.
package namespaces
