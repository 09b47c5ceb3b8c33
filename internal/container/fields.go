package container

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"

	"github.com/berthproject/berth/internal/spec"
)

// Every field of the Engine API's Config, HostConfig (its Resources
// included) and NetworkingConfig's endpoint settings is either honoured
// or, set to anything but its default, refused with an error naming the
// flag: never accepted and ignored. TestEveryFieldIsHonouredOrRefused
// walks the types, so a field a library upgrade adds fails it until it is
// put in one list or the other.

// honoured are the fields berth acts on (or, as Docker on Linux, only
// keeps: build-time metadata, Windows-only options at their defaults).
var honoured = map[string]string{
	"Config.Hostname": "", "Config.Domainname": "", "Config.User": "", "Config.AttachStdin": "client",
	"Config.AttachStdout": "client", "Config.AttachStderr": "client", "Config.ExposedPorts": "inspect, ps --filter expose",
	"Config.Tty": "", "Config.OpenStdin": "", "Config.StdinOnce": "", "Config.Env": "", "Config.Cmd": "",
	"Config.Image": "", "Config.WorkingDir": "", "Config.Entrypoint": "", "Config.Labels": "",
	"Config.StopSignal": "", "Config.StopTimeout": "",
	"Config.NetworkDisabled": "no network but loopback",
	"Config.ArgsEscaped":     "Windows only; ignored on Linux, as Docker", "Config.OnBuild": "build metadata, kept",
	"Config.Shell": "build metadata, kept",

	"HostConfig.ContainerIDFile": "written by the client", "HostConfig.LogConfig": "", "HostConfig.NetworkMode": "default and bridge (the default bridge), user-defined bridge networks, none, host, container:",
	"HostConfig.RestartPolicy": "", "HostConfig.AutoRemove": "", "HostConfig.ConsoleSize": "", "HostConfig.Annotations": "OCI annotations",
	"HostConfig.CapAdd": "", "HostConfig.CapDrop": "", "HostConfig.CgroupnsMode": "", "HostConfig.DNS": "",
	"HostConfig.DNSOptions": "", "HostConfig.DNSSearch": "", "HostConfig.ExtraHosts": "", "HostConfig.GroupAdd": "",
	"HostConfig.IpcMode": "private, shareable, host", "HostConfig.OomScoreAdj": "", "HostConfig.Privileged": "",
	"HostConfig.ReadonlyRootfs": "", "HostConfig.SecurityOpt": "spec.ParseSecurityOpts refuses what it cannot do",
	"Config.Volumes":         "anonymous volumes (-v /path), or the target of a bind (compose v1 sends those)",
	"HostConfig.VolumesFrom": "binds and volumes of the containers named, :ro/:rw",
	"HostConfig.Tmpfs":       "", "HostConfig.Binds": "host paths and volume names", "HostConfig.Mounts": "bind, volume and tmpfs", "HostConfig.ShmSize": "", "HostConfig.Sysctls": "", "HostConfig.Runtime": "runc",
	"HostConfig.Init": "", "HostConfig.MaskedPaths": "", "HostConfig.ReadonlyPaths": "",
	"HostConfig.CPUShares": "", "HostConfig.Memory": "", "HostConfig.NanoCPUs": "", "HostConfig.CPUPeriod": "",
	"HostConfig.CPUQuota": "", "HostConfig.CpusetCpus": "", "HostConfig.CpusetMems": "",
	"HostConfig.MemoryReservation": "", "HostConfig.MemorySwap": "", "HostConfig.PidsLimit": "", "HostConfig.Ulimits": "",
	"HostConfig.PidMode": "host, container:", "HostConfig.UTSMode": "host", "HostConfig.CgroupParent": "",
	"HostConfig.Devices": "", "HostConfig.DeviceCgroupRules": "",
	"HostConfig.BlkioWeight": "where the host's block I/O cgroup has weights", "HostConfig.BlkioWeightDevice": "as BlkioWeight",
	"HostConfig.BlkioDeviceReadBps": "", "HostConfig.BlkioDeviceWriteBps": "", "HostConfig.BlkioDeviceReadIOps": "", "HostConfig.BlkioDeviceWriteIOps": "",
	"HostConfig.OomKillDisable": "cgroup v1 (refused on v2, which cannot)",
	"HostConfig.Links":          "legacy links on the default bridge", "HostConfig.PortBindings": "on the default bridge (refused with other network modes)", "HostConfig.PublishAllPorts": "as PortBindings",
	"Endpoint.Aliases": "on user-defined networks (in the other members' /etc/hosts)", "Config.MacAddress": "on a bridge", "Endpoint.MacAddress": "on a bridge", "Endpoint.IPAMConfig": "its IPv4Address (--ip) on user-defined networks; the rest refused",
}

// refusal is a field berth does not honour yet, and the flag that sets it.
type refusal struct {
	field, flag string
	// ok reports whether a value is one berth honours anyway (nil: only
	// the zero value).
	ok func(v reflect.Value) bool
	// why replaces "is not supported yet" where berth never will.
	why string
}

func isOneOf(vals ...string) func(reflect.Value) bool {
	return func(v reflect.Value) bool {
		for _, s := range vals {
			if v.String() == s {
				return true
			}
		}
		return false
	}
}

var refused = []refusal{
	{field: "Config.Healthcheck", flag: "--health-cmd", ok: func(v reflect.Value) bool {
		// --no-healthcheck: berth runs none anyway.
		hc := v.Interface().(*container.HealthConfig)
		return hc == nil || len(hc.Test) == 1 && hc.Test[0] == "NONE"
	}},

	{field: "HostConfig.VolumeDriver", flag: "--volume-driver"},
	{field: "HostConfig.UsernsMode", flag: "--userns", ok: isOneOf("", "host")},
	{field: "HostConfig.Cgroup", flag: "--cgroup"},
	{field: "HostConfig.StorageOpt", flag: "--storage-opt"},
	{field: "HostConfig.Isolation", flag: "--isolation", ok: isOneOf("", "default")},
	{field: "HostConfig.CPURealtimePeriod", flag: "--cpu-rt-period"},
	{field: "HostConfig.CPURealtimeRuntime", flag: "--cpu-rt-runtime"},
	{field: "HostConfig.DeviceRequests", flag: "--gpus"},
	{field: "HostConfig.KernelMemory", flag: "--kernel-memory", why: noKmem},
	{field: "HostConfig.KernelMemoryTCP", flag: "--kernel-memory-tcp", why: noKmem},
	{field: "HostConfig.MemorySwappiness", flag: "--memory-swappiness", ok: func(v reflect.Value) bool {
		return v.IsNil() || v.Elem().Int() == -1 // -1: the default
	}},
	{field: "HostConfig.CPUCount", flag: "--cpu-count (Windows only)"},
	{field: "HostConfig.CPUPercent", flag: "--cpu-percent (Windows only)"},
	{field: "HostConfig.IOMaximumIOps", flag: "--io-maxiops (Windows only)"},
	{field: "HostConfig.IOMaximumBandwidth", flag: "--io-maxbandwidth (Windows only)"},

	// Endpoint settings, for each network of NetworkingConfig.
	{field: "Endpoint.Links", flag: "--link"},
	{field: "Endpoint.DriverOpts", flag: "--network driver-opt"},
	{field: "Endpoint.GwPriority", flag: "--network gw-priority"},
	{field: "Endpoint.NetworkID", flag: "NetworkingConfig NetworkID"},
	{field: "Endpoint.EndpointID", flag: "NetworkingConfig EndpointID"},
	{field: "Endpoint.Gateway", flag: "NetworkingConfig Gateway"},
	{field: "Endpoint.IPAddress", flag: "--ip"},
	{field: "Endpoint.IPPrefixLen", flag: "NetworkingConfig IPPrefixLen"},
	{field: "Endpoint.IPv6Gateway", flag: "NetworkingConfig IPv6Gateway"},
	{field: "Endpoint.GlobalIPv6Address", flag: "--ip6"},
	{field: "Endpoint.GlobalIPv6PrefixLen", flag: "NetworkingConfig GlobalIPv6PrefixLen"},
	{field: "Endpoint.DNSNames", flag: "NetworkingConfig DNSNames"},
}

// noKmem: Linux stopped enforcing kernel memory limits (cgroup v1's
// memory.kmem.limit_in_bytes takes a write and keeps "max" on 6.x; v2 has
// none), runc no longer sets them, and Docker ignores them with a warning.
const noKmem = "is not supported: Linux no longer enforces kernel memory limits and runc does not set them"

// checkFields refuses any field of refused set to what berth does not
// honour, naming the flag and the field.
func checkFields(cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig) error {
	if _, err := spec.ParseSecurityOpts(hc.SecurityOpt); err != nil {
		return errdefs.ErrInvalidArgument.WithMessage(err.Error())
	}
	roots := map[string]reflect.Value{"Config": reflect.ValueOf(cfg).Elem(), "HostConfig": reflect.ValueOf(hc).Elem()}
	var endpoints []reflect.Value
	if nc != nil {
		for _, ep := range nc.EndpointsConfig {
			if ep == nil {
				continue
			}
			endpoints = append(endpoints, reflect.ValueOf(ep).Elem())
		}
	}
	for _, r := range refused {
		kind, name, _ := strings.Cut(r.field, ".")
		vals := []reflect.Value{roots[kind]}
		if kind == "Endpoint" {
			vals = endpoints
		}
		for _, root := range vals {
			v := root.FieldByName(name)
			if !v.IsValid() {
				return fmt.Errorf("berth: no field %s", r.field) // the test keeps the table right
			}
			if ok := r.ok; ok != nil && ok(v) || ok == nil && v.IsZero() || isEmptyCollection(v) {
				continue
			}
			why := r.why
			if why == "" {
				why = "is not supported yet"
			}
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("berth: %s (%s) %s", r.flag, r.field, why))
		}
	}
	return nil
}

// defaultNetwork reports whether an endpoint named name is the one of the
// container's own network mode ("default" and "bridge" name one network).
func defaultNetwork(name string, mode container.NetworkMode) bool {
	isDefault := func(s string) bool { return s == "" || s == "default" || s == "bridge" }
	return name == string(mode) || isDefault(string(mode)) && isDefault(name)
}

// isEmptyCollection is true for an empty, non-nil slice or map: as good as
// unset.
func isEmptyCollection(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Slice, reflect.Map:
		return v.Len() == 0
	}
	return false
}
