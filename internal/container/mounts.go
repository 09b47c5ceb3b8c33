package container

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/containerd/errdefs"
	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// MountPoint is one of a container's mounts (-v, --mount), as create
// checked it and inspect shows it.
type MountPoint struct {
	Type        string // "bind" or "tmpfs"
	Source      string `json:",omitempty"` // a bind's host path
	Destination string
	Mode        string `json:",omitempty"` // -v's mode field, as given ("ro", "z", "ro,shared")
	RW          bool
	Propagation string `json:",omitempty"` // a bind's
	// Create: the host path is made (a directory) if missing at start, as
	// -v does; --mount refuses a missing source instead, at create.
	Create    bool     `json:",omitempty"`
	Recursive bool     `json:",omitempty"` // rbind (the default) or bind (bind-nonrecursive)
	TmpfsOpts []string `json:",omitempty"` // a tmpfs's size=, mode=
}

// volumeForm is -v's refusal until named and anonymous volumes land.
const volumeForm = "berth: named and anonymous volumes (-v NAME:/path, -v /path, --mount type=volume) are not supported yet; bind a host directory with -v /host/path:/path"

// parseMounts reads -v (Binds) and --mount (Mounts) as Docker does, with
// its errors; warnings are what was accepted but has no effect here.
func parseMounts(cfg *container.Config, hc *container.HostConfig) (mps []MountPoint, warnings []string, err error) {
	defer func() {
		if err != nil {
			return
		}
		// Config.Volumes: a path a bind covers is that bind (older clients,
		// compose v1 among them, list the binds' targets there too); any
		// other would be an anonymous volume.
		covered := map[string]bool{}
		for _, mp := range mps {
			covered[mp.Destination] = true
		}
		for v := range cfg.Volumes {
			if !covered[filepath.Clean(v)] {
				mps, warnings, err = nil, nil, errdefs.ErrNotImplemented.WithMessage(volumeForm)
				return
			}
		}
	}()
	for _, b := range hc.Binds {
		mp, warn, err := parseBind(b)
		if err != nil {
			return nil, nil, err
		}
		warnings = append(warnings, warn...)
		mps = append(mps, mp)
	}
	for _, m := range hc.Mounts {
		mp, err := parseMount(m)
		if err != nil {
			return nil, nil, err
		}
		mps = append(mps, mp)
	}
	return mps, warnings, nil
}

func invalidSpec(spec string) error {
	return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid volume specification: '%s'", spec))
}

// checkTarget refuses a destination that is not absolute, is / or has a
// .. element.
func checkTarget(dst, spec string) error {
	switch {
	case dst == "":
		return invalidSpec(spec)
	case !filepath.IsAbs(dst):
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid mount config: invalid mount path: '%s' mount path must be absolute", dst))
	case filepath.Clean(dst) == "/":
		return errdefs.ErrInvalidArgument.WithMessage("invalid specification: destination can't be '/'")
	case strings.Contains("/"+dst+"/", "/../"):
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid mount config: mount path '%s' must not contain '..'", dst))
	}
	return nil
}

// parseBind reads -v SRC:DST[:MODE] where SRC is an absolute host path.
func parseBind(spec string) (MountPoint, []string, error) {
	parts := strings.Split(spec, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" {
		if len(parts) == 1 && filepath.IsAbs(parts[0]) {
			return MountPoint{}, nil, errdefs.ErrNotImplemented.WithMessage(volumeForm)
		}
		return MountPoint{}, nil, invalidSpec(spec)
	}
	src, dst := parts[0], parts[1]
	if !filepath.IsAbs(src) {
		if strings.ContainsAny(src, "/.") && (strings.HasPrefix(src, ".") || strings.Contains(src, "/")) {
			return MountPoint{}, nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(
				"%q includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path", src))
		}
		return MountPoint{}, nil, errdefs.ErrNotImplemented.WithMessage(volumeForm)
	}
	if err := checkTarget(dst, spec); err != nil {
		return MountPoint{}, nil, err
	}
	mp := MountPoint{Type: "bind", Source: filepath.Clean(src), Destination: filepath.Clean(dst), RW: true,
		Propagation: string(mount.PropagationRPrivate), Create: true, Recursive: true}
	var warnings []string
	if len(parts) == 3 {
		mp.Mode = parts[2]
		rw := 0
		for _, o := range strings.Split(parts[2], ",") {
			switch o {
			case "ro":
				mp.RW = false
				rw++
			case "rw":
				rw++
			case "z", "Z":
				warnings = append(warnings, fmt.Sprintf("berth: -v %s: the SELinux relabel option %q is ignored (this host does not run SELinux)", spec, o))
			case "shared", "rshared", "slave", "rslave", "private", "rprivate":
				mp.Propagation = o
			case "nocopy":
				return MountPoint{}, nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid mode: %s (nocopy applies to volumes, not to a host path)", parts[2]))
			default:
				return MountPoint{}, nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid mode: %s", parts[2]))
			}
		}
		if rw > 1 {
			return MountPoint{}, nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid mode: %s", parts[2]))
		}
	}
	return mp, warnings, nil
}

// parseMount reads --mount (the API's Mounts) of type bind or tmpfs.
func parseMount(m mount.Mount) (MountPoint, error) {
	bad := func(format string, a ...any) (MountPoint, error) {
		return MountPoint{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid mount config for type %q: ", m.Type) + fmt.Sprintf(format, a...))
	}
	if err := checkTarget(m.Target, m.Target); err != nil {
		return MountPoint{}, err
	}
	if m.ImageOptions != nil || m.ClusterOptions != nil {
		return bad("image and cluster options are not supported")
	}
	switch m.Type {
	case mount.TypeBind:
		if m.VolumeOptions != nil || m.TmpfsOptions != nil {
			return bad("only bind options (bind-propagation, bind-nonrecursive) go with a bind mount")
		}
		if m.Source == "" {
			return bad("field Source must not be empty")
		}
		if !filepath.IsAbs(m.Source) {
			return bad("invalid mount path: '%s' mount path must be absolute", m.Source)
		}
		if _, err := os.Stat(m.Source); err != nil {
			return bad("bind source path does not exist: %s", m.Source)
		}
		mp := MountPoint{Type: "bind", Source: filepath.Clean(m.Source), Destination: filepath.Clean(m.Target), RW: !m.ReadOnly,
			Propagation: string(mount.PropagationRPrivate), Recursive: true}
		if o := m.BindOptions; o != nil {
			if o.CreateMountpoint || o.ReadOnlyNonRecursive || o.ReadOnlyForceRecursive {
				return MountPoint{}, errdefs.ErrNotImplemented.WithMessage("berth: bind-create-mountpoint, bind-recursive=readonly and =writable are not supported yet")
			}
			if o.Propagation != "" {
				mp.Propagation = string(o.Propagation)
				if !validPropagation(o.Propagation) {
					return bad("invalid propagation mode: %s", o.Propagation)
				}
			}
			mp.Recursive = !o.NonRecursive
		}
		return mp, nil
	case mount.TypeTmpfs:
		if m.Source != "" {
			return bad("field Source must not be specified")
		}
		if m.BindOptions != nil || m.VolumeOptions != nil {
			return bad("only tmpfs options (tmpfs-size, tmpfs-mode) go with a tmpfs mount")
		}
		mp := MountPoint{Type: "tmpfs", Destination: filepath.Clean(m.Target), RW: !m.ReadOnly}
		if o := m.TmpfsOptions; o != nil {
			if len(o.Options) > 0 {
				return MountPoint{}, errdefs.ErrNotImplemented.WithMessage("berth: tmpfs-option is not supported yet (tmpfs-size and tmpfs-mode are)")
			}
			if o.SizeBytes < 0 {
				return bad("invalid tmpfs size %d", o.SizeBytes)
			}
			if o.SizeBytes > 0 {
				mp.TmpfsOpts = append(mp.TmpfsOpts, fmt.Sprintf("size=%dk", (o.SizeBytes+1023)/1024))
			}
			if o.Mode != 0 {
				mp.TmpfsOpts = append(mp.TmpfsOpts, fmt.Sprintf("mode=%o", uint32(o.Mode)&0o7777)) // the CLI sends tmpfs-mode's octal as is
			}
		}
		return mp, nil
	case mount.TypeVolume:
		return MountPoint{}, errdefs.ErrNotImplemented.WithMessage(volumeForm)
	case "":
		return MountPoint{}, errdefs.ErrInvalidArgument.WithMessage("invalid mount config: mount type unknown")
	default:
		return MountPoint{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid mount config: mount type %q is not supported", m.Type))
	}
}

func validPropagation(p mount.Propagation) bool {
	for _, v := range mount.Propagations {
		if p == v {
			return true
		}
	}
	return false
}

// mountSpecs turns a starting container's mount points into OCI mounts,
// parents before children: a -v host path that is missing is made (a
// directory, as Docker), a file is never mounted on a directory nor a
// directory on a file, and shared or slave propagation needs a host
// mount that propagates. It returns the rootfs propagation they need.
func mountSpecs(mps []MountPoint, rootfs string) ([]specs.Mount, string, error) {
	sorted := append([]MountPoint(nil), mps...)
	sort.SliceStable(sorted, func(i, j int) bool {
		return strings.Count(sorted[i].Destination, "/") < strings.Count(sorted[j].Destination, "/")
	})
	var out []specs.Mount
	rootProp := ""
	for _, mp := range sorted {
		if mp.Type == "tmpfs" {
			opts := append([]string{"nosuid", "nodev", "noexec"}, mp.TmpfsOpts...)
			if !mp.RW {
				opts = append(opts, "ro")
			}
			out = append(out, specs.Mount{Destination: mp.Destination, Type: "tmpfs", Source: "tmpfs", Options: opts})
			continue
		}
		fi, err := os.Stat(mp.Source)
		if errors.Is(err, os.ErrNotExist) && mp.Create {
			if err = os.MkdirAll(mp.Source, 0o755); err == nil {
				fi, err = os.Stat(mp.Source)
			}
		}
		if err != nil {
			return nil, "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("error while creating mount source path '%s': %v", mp.Source, err))
		}
		if dst, err := securejoin.SecureJoin(rootfs, mp.Destination); err == nil {
			if dfi, err := os.Stat(dst); err == nil && dfi.IsDir() != fi.IsDir() {
				what := map[bool]string{true: "a directory", false: "a file"}
				return nil, "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("cannot mount %s (%s) on %s (%s in the image)", mp.Source, what[fi.IsDir()], mp.Destination, what[dfi.IsDir()]))
			}
		}
		if err := checkPropagation(mp); err != nil {
			return nil, "", err
		}
		switch mp.Propagation {
		case "shared", "rshared":
			rootProp = "rshared"
		case "slave", "rslave":
			if rootProp == "" {
				rootProp = "rslave"
			}
		}
		bind := "rbind"
		if !mp.Recursive {
			bind = "bind"
		}
		opts := []string{bind, mp.Propagation}
		if !mp.RW {
			opts = append(opts, "ro")
		}
		out = append(out, specs.Mount{Destination: mp.Destination, Type: "bind", Source: mp.Source, Options: opts})
	}
	return out, rootProp, nil
}

// checkPropagation refuses shared propagation from a host mount that is
// not shared, and slave propagation from one that is neither shared nor
// a slave, with Docker's words.
func checkPropagation(mp MountPoint) error {
	need := ""
	switch mp.Propagation {
	case "shared", "rshared":
		need = "shared"
	case "slave", "rslave":
		need = "slave"
	default:
		return nil
	}
	point, optional, err := mountOf(mp.Source)
	if err != nil {
		return err
	}
	shared := strings.Contains(optional, "shared:")
	if need == "shared" && !shared {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("path %s is mounted on %s but it is not a shared mount", mp.Source, point))
	}
	if need == "slave" && !shared && !strings.Contains(optional, "master:") {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("path %s is mounted on %s but it is not a shared or slave mount", mp.Source, point))
	}
	return nil
}

// mountOf is the mount point path is on and its optional fields
// (propagation), from /proc/self/mountinfo.
func mountOf(path string) (point, optional string, err error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", "", err
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 7 {
			continue
		}
		mp := fs[4]
		if (real == mp || strings.HasPrefix(real, strings.TrimSuffix(mp, "/")+"/")) && len(mp) >= len(point) {
			point = mp
			optional = ""
			for _, o := range fs[6:] {
				if o == "-" {
					break
				}
				optional += o + " "
			}
		}
	}
	return point, optional, sc.Err()
}

// InspectMounts are the mount points as inspect shows them.
func (r *Record) InspectMounts() []container.MountPoint {
	out := make([]container.MountPoint, 0, len(r.MountPoints))
	for _, mp := range r.MountPoints {
		m := container.MountPoint{Type: mount.Type(mp.Type), Source: mp.Source, Destination: mp.Destination,
			Mode: mp.Mode, RW: mp.RW, Propagation: mount.Propagation(mp.Propagation)}
		out = append(out, m)
	}
	return out
}
