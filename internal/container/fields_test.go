package container

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
)

// fieldsOf lists a struct type's exported fields as "prefix.Name", the
// fields of embedded structs (HostConfig's Resources) flattened.
func fieldsOf(prefix string, t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			out = append(out, fieldsOf(prefix, f.Type)...)
			continue
		}
		out = append(out, prefix+"."+f.Name)
	}
	return out
}

// TestEveryFieldIsHonouredOrRefused: a field nobody classified (one a
// library upgrade added, say) would be accepted and ignored.
func TestEveryFieldIsHonouredOrRefused(t *testing.T) {
	refusedSet := map[string]bool{}
	for _, r := range refused {
		if refusedSet[r.field] {
			t.Errorf("%s is refused twice", r.field)
		}
		refusedSet[r.field] = true
	}
	all := map[string]bool{}
	for _, f := range append(append(fieldsOf("Config", reflect.TypeOf(container.Config{})),
		fieldsOf("HostConfig", reflect.TypeOf(container.HostConfig{}))...),
		fieldsOf("Endpoint", reflect.TypeOf(network.EndpointSettings{}))...) {
		all[f] = true
		_, h := honoured[f]
		switch {
		case h && refusedSet[f]:
			t.Errorf("%s is both honoured and refused", f)
		case !h && !refusedSet[f]:
			t.Errorf("%s is neither honoured nor refused: it would be accepted and ignored", f)
		}
	}
	for f := range honoured {
		if !all[f] {
			t.Errorf("honoured lists %s, which is no field", f)
		}
	}
	for f := range refusedSet {
		if !all[f] {
			t.Errorf("refused lists %s, which is no field", f)
		}
	}
	t.Logf("%d fields: %d honoured, %d refused unless at their default", len(all), len(honoured), len(refused))
}

// nonDefault sets v to a value no refusal's ok accepts.
func nonDefault(t *testing.T, v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("bogus")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(5)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(5)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		if v.Type().Elem().Kind() == reflect.Struct {
			s := v.Elem()
			for i := 0; i < s.NumField(); i++ {
				if s.Type().Field(i).IsExported() {
					nonDefault(t, s.Field(i))
				}
			}
		} else {
			nonDefault(t, v.Elem())
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		nonDefault(t, s.Index(0))
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		nonDefault(t, k)
		nonDefault(t, e)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				nonDefault(t, v.Field(i))
			}
		}
	default:
		t.Fatalf("no non-default value for a %s", v.Type())
	}
}

// TestRefusedFieldsAreRefused sets each refused field and expects the
// error naming its flag and field.
func TestRefusedFieldsAreRefused(t *testing.T) {
	if err := checkFields(&container.Config{}, &container.HostConfig{}, nil); err != nil {
		t.Fatalf("defaults refused: %v", err)
	}
	for _, r := range refused {
		t.Run(r.field, func(t *testing.T) {
			cfg, hc := &container.Config{}, &container.HostConfig{}
			ep := &network.EndpointSettings{}
			nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{"default": ep}}
			kind, name, _ := strings.Cut(r.field, ".")
			root := map[string]reflect.Value{"Config": reflect.ValueOf(cfg).Elem(), "HostConfig": reflect.ValueOf(hc).Elem(),
				"Endpoint": reflect.ValueOf(ep).Elem()}[kind]
			nonDefault(t, root.FieldByName(name))
			err := checkFields(cfg, hc, nc)
			if err == nil || !strings.Contains(err.Error(), r.flag) || !strings.Contains(err.Error(), r.field) {
				t.Fatalf("got %v, want an error naming %s and %s", err, r.flag, r.field)
			}
		})
	}
}

func TestCheckFieldsAcceptsWhatBerthHonours(t *testing.T) {
	neg := int64(-1)
	f := false
	for _, tc := range []struct {
		name string
		cfg  container.Config
		hc   container.HostConfig
		nc   map[string]*network.EndpointSettings
		err  string
	}{
		{name: "no healthcheck", cfg: container.Config{Healthcheck: &container.HealthConfig{Test: []string{"NONE"}}}},
		{name: "healthcheck", cfg: container.Config{Healthcheck: &container.HealthConfig{Test: []string{"CMD", "true"}}}, err: "--health-cmd"},
		{name: "pid host", hc: container.HostConfig{PidMode: "host"}},
		{name: "pid container", hc: container.HostConfig{PidMode: "container:x"}},
		{name: "kernel memory", hc: container.HostConfig{Resources: container.Resources{KernelMemory: 1 << 20}}, err: "--kernel-memory (HostConfig.KernelMemory) is not supported: Linux no longer enforces"},
		{name: "userns host", hc: container.HostConfig{UsernsMode: "host"}},
		{name: "default swappiness", hc: container.HostConfig{Resources: container.Resources{MemorySwappiness: &neg}}},
		{name: "oom kill enabled", hc: container.HostConfig{Resources: container.Resources{OomKillDisable: &f}}},
		{name: "empty binds", hc: container.HostConfig{Binds: []string{}}},
		{name: "the CLI's default endpoint", nc: map[string]*network.EndpointSettings{"default": {}}},
		{name: "bridge endpoint, default mode", nc: map[string]*network.EndpointSettings{"bridge": {}}},
		{name: "host endpoint, host mode", hc: container.HostConfig{NetworkMode: "host"}, nc: map[string]*network.EndpointSettings{"host": {}}},
		{name: "another network", nc: map[string]*network.EndpointSettings{"backend": {}}},
		{name: "another network's refused field", nc: map[string]*network.EndpointSettings{"backend": {Gateway: "10.0.0.1"}}, err: "NetworkingConfig Gateway"},
		{name: "apparmor profile", hc: container.HostConfig{SecurityOpt: []string{"apparmor=docker-default"}}, err: "apparmor=docker-default is not supported"},
		{name: "apparmor unconfined", hc: container.HostConfig{SecurityOpt: []string{"apparmor=unconfined"}}},
		{name: "selinux label", hc: container.HostConfig{SecurityOpt: []string{"label=type:x"}}, err: "label=type:x is not supported"},
		{name: "unknown security opt", hc: container.HostConfig{SecurityOpt: []string{"bogus=1"}}, err: `invalid --security-opt 2: "bogus=1"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkFields(&tc.cfg, &tc.hc, &network.NetworkingConfig{EndpointsConfig: tc.nc})
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("got %v, want %q", err, tc.err)
			}
		})
	}
}

// effects names, for each honoured field, the tests (unit or end-to-end)
// that show what it does; TestEveryHonouredFieldHasAnEffectTest keeps the
// two lists together and checks that the tests exist.
var effects = map[string][]string{
	"Config.Hostname":        {"TestRunOptionsReachTheProcess"},
	"Config.Domainname":      {"TestContainerDefaultsAsDocker"},
	"Config.User":            {"TestRunOptionsReachTheProcess", "TestExecAndAttachFraming"},
	"Config.AttachStdin":     {"TestRunInteractiveStdin"},
	"Config.AttachStdout":    {"TestRunHelloWorldWithoutRegistry"},
	"Config.AttachStderr":    {"TestLogsKeepStreamsApartAndRotate"},
	"Config.ExposedPorts":    {"TestListFiltersBeforeSinceUntil"},
	"Config.Tty":             {"TestTerminalResize", "TestHonouredOptionsTakeEffect"},
	"Config.OpenStdin":       {"TestRunInteractiveStdin"},
	"Config.StdinOnce":       {"TestRunInteractiveStdin"},
	"Config.Env":             {"TestRunOptionsReachTheProcess", "TestMergeEnv"},
	"Config.Cmd":             {"TestRunOptionsReachTheProcess"},
	"Config.Image":           {"TestRunOptionsReachTheProcess"},
	"Config.WorkingDir":      {"TestRunOptionsReachTheProcess", "TestValidateConfig"},
	"Config.Entrypoint":      {"TestRunOptionsReachTheProcess"},
	"Config.Labels":          {"TestPsFiltersAndFormats", "TestLogDetails"},
	"Config.StopSignal":      {"TestStopKillRestartPauseRename", "TestStartAttachAndImageStopSignal"},
	"Config.StopTimeout":     {"TestHonouredOptionsTakeEffect"},
	"Config.NetworkDisabled": {"TestHonouredOptionsTakeEffect"},
	"Config.ArgsEscaped":     {"TestEveryFieldIsHonouredOrRefused"}, // Windows only: nothing to do on Linux
	"Config.OnBuild":         {"TestEveryFieldIsHonouredOrRefused"}, // build metadata, kept as given
	"Config.Shell":           {"TestEveryFieldIsHonouredOrRefused"}, // build metadata, kept as given

	"HostConfig.ContainerIDFile":      {"TestEveryFieldIsHonouredOrRefused"}, // the client writes it
	"HostConfig.LogConfig":            {"TestLogDrivers", "TestLogDetails"},
	"HostConfig.NetworkMode":          {"TestDefaultSecurity", "TestGenerate", "TestNetworkConnect"},
	"HostConfig.RestartPolicy":        {"TestRestartPolicy", "TestRestartPolicies", "TestDaemonRestartAppliesRestartPolicies"},
	"HostConfig.AutoRemove":           {"TestRunRmLeavesNothing", "TestRemove"},
	"HostConfig.ConsoleSize":          {"TestHonouredOptionsTakeEffect"},
	"HostConfig.Annotations":          {"TestHonouredOptionsTakeEffect"},
	"HostConfig.CapAdd":               {"TestDefaultSecurity", "TestGenerate"},
	"HostConfig.CapDrop":              {"TestDefaultSecurity", "TestGenerate"},
	"HostConfig.CgroupnsMode":         {"TestHonouredOptionsTakeEffect"},
	"HostConfig.DNS":                  {"TestSecurityOptsAndDNSOptions", "TestEmbeddedDNS"},
	"HostConfig.DNSOptions":           {"TestSecurityOptsAndDNSOptions", "TestEmbeddedDNS"},
	"HostConfig.DNSSearch":            {"TestSecurityOptsAndDNSOptions", "TestEmbeddedDNS"},
	"HostConfig.ExtraHosts":           {"TestHonouredOptionsTakeEffect", "TestAddHost"},
	"HostConfig.GroupAdd":             {"TestExecAndAttachFraming"},
	"HostConfig.IpcMode":              {"TestNamespaceOptions", "TestLifecycleAsDocker"},
	"HostConfig.OomScoreAdj":          {"TestHonouredOptionsTakeEffect"},
	"HostConfig.Privileged":           {"TestDefaultSecurity", "TestDeviceOptions"},
	"HostConfig.ReadonlyRootfs":       {"TestDefaultSecurity"},
	"HostConfig.SecurityOpt":          {"TestDefaultSecurity", "TestSecurityOptsAndDNSOptions"},
	"HostConfig.Tmpfs":                {"TestHonouredOptionsTakeEffect"},
	"HostConfig.Binds":                {"TestBindMounts", "TestComposeV1", "TestVolumes"},
	"Config.Volumes":                  {"TestComposeV1", "TestVolumes"},
	"HostConfig.VolumesFrom":          {"TestVolumes"},
	"HostConfig.Mounts":               {"TestBindMounts", "TestVolumes"},
	"HostConfig.ShmSize":              {"TestHonouredOptionsTakeEffect", "TestNamespaceOptions"},
	"HostConfig.Sysctls":              {"TestHonouredOptionsTakeEffect"},
	"HostConfig.Runtime":              {"TestCreateValidationAsDocker", "TestValidateHostConfig"},
	"HostConfig.Init":                 {"TestRunInitReapsAndForwardsSignals"},
	"HostConfig.MaskedPaths":          {"TestHonouredOptionsTakeEffect"},
	"HostConfig.ReadonlyPaths":        {"TestHonouredOptionsTakeEffect"},
	"HostConfig.PidMode":              {"TestNamespaceOptions", "TestJoinNamespaces"},
	"HostConfig.UTSMode":              {"TestNamespaceOptions", "TestGenerate"},
	"HostConfig.CgroupParent":         {"TestCgroupOptions"},
	"HostConfig.Devices":              {"TestDeviceOptions", "TestGenerate"},
	"HostConfig.DeviceCgroupRules":    {"TestDeviceOptions", "TestGenerate"},
	"HostConfig.BlkioWeight":          {"TestCgroupOptions", "TestBlockIOOfABlockDevice"},
	"HostConfig.BlkioWeightDevice":    {"TestCgroupOptions", "TestBlockIOOfABlockDevice"},
	"HostConfig.BlkioDeviceReadBps":   {"TestCgroupOptions", "TestBlockIOOfABlockDevice"},
	"HostConfig.BlkioDeviceWriteBps":  {"TestBlockIOOfABlockDevice"},
	"HostConfig.BlkioDeviceReadIOps":  {"TestBlockIOOfABlockDevice"},
	"HostConfig.BlkioDeviceWriteIOps": {"TestCgroupOptions", "TestBlockIOOfABlockDevice"},
	"HostConfig.OomKillDisable":       {"TestCgroupOptions", "TestGenerate"},
	"HostConfig.CPUShares":            {"TestResourceLimits", "TestUpdateAppliesToTheRunningContainerOrNothing"},
	"HostConfig.Memory":               {"TestResourceLimits", "TestUpdate"},
	"HostConfig.NanoCPUs":             {"TestResourceLimits", "TestGenerate"},
	"HostConfig.CPUPeriod":            {"TestResourceLimits"},
	"HostConfig.CPUQuota":             {"TestResourceLimits"},
	"HostConfig.CpusetCpus":           {"TestResourceLimits"},
	"HostConfig.CpusetMems":           {"TestResourceLimits"},
	"HostConfig.MemoryReservation":    {"TestResourceLimits"},
	"HostConfig.MemorySwap":           {"TestResourceLimits", "TestUpdate"},
	"HostConfig.PidsLimit":            {"TestResourceLimits", "TestUpdate"},
	"HostConfig.Ulimits":              {"TestResourceLimits", "TestGenerate"},
	"HostConfig.PortBindings":         {"TestPublishedPorts"},
	"HostConfig.Links":                {"TestLegacyLinks"},
	"Config.MacAddress":               {"TestStaticAddresses"},
	"Endpoint.MacAddress":             {"TestStaticAddresses"},
	"Endpoint.IPAMConfig":             {"TestStaticAddresses", "TestAddressRanges"},
	"Endpoint.Aliases":                {"TestEmbeddedDNS", "TestNetworkConnect"},
	"HostConfig.PublishAllPorts":      {"TestPublishedPorts"},
}

func TestEveryHonouredFieldHasAnEffectTest(t *testing.T) {
	tests := map[string]bool{}
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, "_test.go") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range regexp.MustCompile(`(?m)^func (Test\w+)\(`).FindAllStringSubmatch(string(b), -1) {
			tests[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for f := range honoured {
		if len(effects[f]) == 0 {
			t.Errorf("honoured field %s names no test that shows its effect", f)
		}
	}
	for f, names := range effects {
		if _, ok := honoured[f]; !ok {
			t.Errorf("effects lists %s, which is not honoured", f)
		}
		for _, n := range names {
			if !tests[n] {
				t.Errorf("%s: no test %s", f, n)
			}
		}
	}
}
