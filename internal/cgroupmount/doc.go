// Package cgroupmount tunes the host's cgroup file system for an engine
// that moves a new process into new cgroups at every container start.
//
// Writing a pid to cgroup.procs takes a global lock that, unless the
// cgroup2 mount has the "favordynmods" option (Linux ≥ 6.0), makes the
// writer wait for an RCU grace period: 7–14 ms of an idle wait per
// container start on the machine berth is measured on, about a fifth of
// a whole `run --rm`. With the option, the write takes 0.2 ms. The
// kernel's documented price is slightly costlier forks and exits. The
// option is global (one mount carries it for all hierarchies), and from
// Linux 6.18 it cannot be turned off again until reboot.
package cgroupmount
