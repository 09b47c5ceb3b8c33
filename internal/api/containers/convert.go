package containers

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/storage"
	"github.com/docker/go-connections/nat"
	units "github.com/docker/go-units"

	ctr "github.com/berthproject/berth/internal/container"
)

// matchNetworkID: a network filter may name the network by its ID.
func matchNetworkID(ids []string, rec *ctr.Record) bool {
	for _, ep := range rec.Networks {
		for _, id := range ids {
			if id != "" && ep.NetworkID != "" && strings.HasPrefix(ep.NetworkID, id) {
				return true
			}
		}
	}
	return false
}

// endpoints are the container's networks as inspect and ps show them.
func endpoints(rec *ctr.Record) map[string]*network.EndpointSettings {
	out := map[string]*network.EndpointSettings{}
	for name, ep := range rec.Networks {
		c := *ep
		out[name] = &c
	}
	if len(out) == 0 {
		return rec.ConfiguredNetworks()
	}
	return out
}

func statusText(rec *ctr.Record) string {
	st := rec.State
	switch st.Status {
	case "running":
		return "Up " + units.HumanDuration(time.Since(st.StartedAt))
	case "paused":
		return "Up " + units.HumanDuration(time.Since(st.StartedAt)) + " (Paused)"
	case "restarting":
		return fmt.Sprintf("Restarting (%d) %s ago", st.ExitCode, units.HumanDuration(time.Since(st.FinishedAt)))
	case "exited":
		if st.FinishedAt.IsZero() {
			return "Created"
		}
		return fmt.Sprintf("Exited (%d) %s ago", st.ExitCode, units.HumanDuration(time.Since(st.FinishedAt)))
	case "removing":
		return "Removal In Progress"
	case "dead":
		return "Dead"
	}
	return "Created"
}

func command(rec *ctr.Record) string {
	return strings.Join(append([]string{rec.Path}, rec.Args...), " ")
}

func summary(rec *ctr.Record) container.Summary {
	s := container.Summary{
		ID: rec.ID, Names: []string{rec.Name}, Image: rec.Config.Image, ImageID: rec.Image.String(),
		Command: command(rec), Created: rec.Created.Unix(), Ports: []container.Port{}, Labels: rec.Config.Labels,
		State: container.ContainerState(rec.State.Status), Status: statusText(rec), Mounts: rec.InspectMounts(),
	}
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	for p := range rec.Config.ExposedPorts {
		if len(rec.Ports[p]) == 0 {
			s.Ports = append(s.Ports, container.Port{PrivatePort: uint16(p.Int()), Type: p.Proto()})
		}
	}
	for p, bs := range rec.Ports {
		for _, b := range bs {
			hp, _ := strconv.Atoi(b.HostPort)
			s.Ports = append(s.Ports, container.Port{IP: b.HostIP, PrivatePort: uint16(p.Int()), PublicPort: uint16(hp), Type: p.Proto()})
		}
	}
	s.HostConfig.NetworkMode = string(rec.HostConfig.NetworkMode)
	s.NetworkSettings = &container.NetworkSettingsSummary{Networks: endpoints(rec)}
	return s
}

func timeString(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return t.Format(time.RFC3339Nano)
}

// inspectLogPath is what Docker shows: json-file's file, nothing for
// other drivers.
func inspectLogPath(rec *ctr.Record) string {
	if rec.HostConfig.LogConfig.Type != "json-file" {
		return ""
	}
	return rec.LogPath
}

func inspect(rec *ctr.Record) container.InspectResponse {
	st := rec.State
	base := &container.ContainerJSONBase{
		ID: rec.ID, Created: timeString(rec.Created), Path: rec.Path, Args: rec.Args,
		State: &container.State{
			Status: container.ContainerState(st.Status), Running: rec.Running() && st.Status != "restarting",
			Paused: st.Status == "paused", Restarting: st.Status == "restarting", OOMKilled: st.OOMKilled,
			Dead: st.Status == "dead", Pid: st.Pid, ExitCode: st.ExitCode, Error: st.Error,
			StartedAt: timeString(st.StartedAt), FinishedAt: timeString(st.FinishedAt),
		},
		Image:          rec.Image.String(),
		ResolvConfPath: rec.Dir + "/resolv.conf", HostnamePath: rec.Dir + "/hostname", HostsPath: rec.Dir + "/hosts",
		LogPath: inspectLogPath(rec), Name: rec.Name, RestartCount: rec.RestartCount, Driver: "overlay2", Platform: "linux",
		HostConfig:  rec.HostConfig,
		GraphDriver: storage.DriverData{Name: "overlay2", Data: map[string]string{}},
	}
	if base.Args == nil {
		base.Args = []string{}
	}
	ports := nat.PortMap{}
	for p := range rec.Config.ExposedPorts {
		ports[p] = nil
	}
	for p, bs := range rec.Ports {
		ports[p] = bs
	}
	ns := &container.NetworkSettings{
		NetworkSettingsBase: container.NetworkSettingsBase{Ports: ports, SandboxKey: rec.SandboxKey},
		Networks:            endpoints(rec),
	}
	if ep := rec.Networks["bridge"]; ep != nil {
		// The top-level fields docker-py and compose v1 still read: the
		// default bridge's endpoint.
		ns.DefaultNetworkSettings = container.DefaultNetworkSettings{ //nolint:staticcheck // deprecated, still read
			EndpointID: ep.EndpointID, Gateway: ep.Gateway, IPAddress: ep.IPAddress, IPPrefixLen: ep.IPPrefixLen, MacAddress: ep.MacAddress,
		}
		ns.Bridge = "" //nolint:staticcheck
	}
	return container.InspectResponse{ContainerJSONBase: base, Mounts: rec.InspectMounts(), Config: rec.Config, NetworkSettings: ns}
}

// matchFilters applies `ps --filter` as Docker does for the filters we know.
func matchFilters(f filters.Args, rec *ctr.Record) bool {
	if f.Contains("id") {
		ok := false
		for _, v := range f.Get("id") {
			if strings.HasPrefix(rec.ID, v) {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	if f.Contains("name") {
		ok := false
		for _, v := range f.Get("name") {
			if strings.Contains(rec.Name, strings.TrimPrefix(v, "/")) {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	if f.Contains("status") && !f.ExactMatch("status", rec.State.Status) {
		return false
	}
	if f.Contains("exited") {
		if rec.State.Status != "exited" || !f.ExactMatch("exited", strconv.Itoa(rec.State.ExitCode)) {
			return false
		}
	}
	if f.Contains("label") {
		for _, l := range f.Get("label") {
			k, v, hasV := strings.Cut(l, "=")
			got, ok := rec.Config.Labels[k]
			if !ok || hasV && got != v {
				return false
			}
		}
	}
	// What berth has none of yet: no healthchecks, volumes, published
	// ports, swarm tasks or isolation modes other than the default.
	if f.Contains("health") && !f.ExactMatch("health", "none") ||
		f.Contains("volume") || f.Contains("publish") ||
		f.Contains("is-task") && !f.ExactMatch("is-task", "false") && !f.ExactMatch("is-task", "0") ||
		f.Contains("isolation") && !f.ExactMatch("isolation", "default") {
		return false
	}
	if f.Contains("network") && !f.ExactMatch("network", rec.NetworkName()) && !matchNetworkID(f.Get("network"), rec) {
		return false
	}
	if f.Contains("expose") {
		ok := false
		for _, v := range f.Get("expose") {
			port, proto, _ := strings.Cut(v, "/")
			if proto == "" {
				proto = "tcp"
			}
			if _, exposed := rec.Config.ExposedPorts[nat.Port(port+"/"+proto)]; exposed {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	if f.Contains("ancestor") {
		ok := false
		for _, v := range f.Get("ancestor") {
			img := rec.Config.Image
			if v == img || v+":latest" == img || img+":latest" == v || strings.HasPrefix(rec.Image.Encoded(), strings.TrimPrefix(v, "sha256:")) {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// execInspectResponse is moby's server-side exec inspect shape.
type execInspectResponse struct {
	ID            string
	Running       bool
	ExitCode      *int
	ProcessConfig processConfig
	OpenStdin     bool
	OpenStderr    bool
	OpenStdout    bool
	CanRemove     bool
	ContainerID   string
	DetachKeys    []byte
	Pid           int
}

type processConfig struct {
	Privileged bool     `json:"privileged"`
	User       string   `json:"user"`
	Tty        bool     `json:"tty"`
	Entrypoint string   `json:"entrypoint"`
	Arguments  []string `json:"arguments"`
}

func execInspect(x ctr.ExecInfo) execInspectResponse {
	pc := processConfig{Privileged: x.Config.Privileged, User: x.Config.User, Tty: x.Config.Tty, Arguments: []string{}}
	if len(x.Config.Cmd) > 0 {
		pc.Entrypoint, pc.Arguments = x.Config.Cmd[0], x.Config.Cmd[1:]
	}
	return execInspectResponse{ID: x.ID, Running: x.Running, ExitCode: x.ExitCode, ProcessConfig: pc,
		OpenStdin: x.Config.AttachStdin, OpenStdout: x.Config.AttachStdout, OpenStderr: x.Config.AttachStderr,
		ContainerID: x.ContainerID, Pid: x.Pid}
}
