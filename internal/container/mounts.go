package container

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
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
	Type        string // "bind", "volume" or "tmpfs"
	Source      string `json:",omitempty"` // a bind's host path, a volume's data directory
	Name        string `json:",omitempty"` // a volume's ("" until create names an anonymous one)
	Destination string
	Mode        string `json:",omitempty"` // -v's mode field, as given ("ro", "z", "ro,shared")
	RW          bool
	Propagation string `json:",omitempty"` // a bind's
	// Create: the host path is made (a directory) if missing at start, as
	// -v does; --mount refuses a missing source instead, at create.
	Create    bool     `json:",omitempty"`
	Recursive bool     `json:",omitempty"` // rbind (the default) or bind (bind-nonrecursive)
	TmpfsOpts []string `json:",omitempty"` // a tmpfs's size=, mode=
	// A volume's: whether it is filled from the image when new and empty
	// (not -v ...:nocopy, volume-nocopy), whether it goes with the
	// container (-v /path, an image VOLUME), and what --mount asks of a
	// volume it makes.
	CopyData   bool              `json:",omitempty"`
	Anonymous  bool              `json:",omitempty"`
	VolLabels  map[string]string `json:",omitempty"`
	VolOptions map[string]string `json:",omitempty"`
}

// validVolumeName is Docker's rule for volume names.
var validVolumeName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// parseMounts reads -v (Binds) and --mount (Mounts) as Docker does, with
// its errors; warnings are what was accepted but has no effect here.
func parseMounts(cfg *container.Config, hc *container.HostConfig) ([]MountPoint, []string, error) {
	var mps []MountPoint
	var warnings []string
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
	// Config.Volumes (-v /path): an anonymous volume, unless a mount
	// covers the path (older clients, compose v1 among them, list the
	// binds' targets there too).
	for _, v := range sortedPaths(cfg.Volumes) {
		if err := checkTarget(v, v); err != nil {
			return nil, nil, err
		}
	}
	return anonymousVolumes(mps, cfg.Volumes), warnings, nil
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
		return MountPoint{}, nil, invalidSpec(spec)
	}
	src, dst := parts[0], parts[1]
	if err := checkTarget(dst, spec); err != nil {
		return MountPoint{}, nil, err
	}
	mp := MountPoint{Type: "bind", Source: filepath.Clean(src), Destination: filepath.Clean(dst), RW: true,
		Propagation: string(mount.PropagationRPrivate), Create: true, Recursive: true}
	if !filepath.IsAbs(src) { // a volume's name
		if !validVolumeName.MatchString(src) {
			return MountPoint{}, nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(
				"create %s: %q includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path", src, src))
		}
		mp = MountPoint{Type: "volume", Name: src, Destination: filepath.Clean(dst), RW: true, CopyData: true, Mode: "z"} // Docker's default mode for -v NAME
	}
	var warnings []string
	if len(parts) == 3 {
		mp.Mode = parts[2] // as given (a volume's is "z" when none is)
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
				if mp.Type == "volume" {
					return MountPoint{}, nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid mode: %s (propagation applies to host paths, not to volumes)", parts[2]))
				}
				mp.Propagation = o
			case "nocopy":
				if mp.Type != "volume" {
					return MountPoint{}, nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid mode: %s (nocopy applies to volumes, not to a host path)", parts[2]))
				}
				mp.CopyData = false
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
		if m.BindOptions != nil || m.TmpfsOptions != nil {
			return bad("only volume options (volume-nocopy, volume-label, volume-opt) go with a volume mount")
		}
		if m.Source != "" && !validVolumeName.MatchString(m.Source) {
			return bad("invalid volume name %q: only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed", m.Source)
		}
		mp := MountPoint{Type: "volume", Name: m.Source, Destination: filepath.Clean(m.Target), RW: !m.ReadOnly, CopyData: true, Anonymous: m.Source == ""}
		if o := m.VolumeOptions; o != nil {
			if o.Subpath != "" {
				return MountPoint{}, errdefs.ErrNotImplemented.WithMessage("berth: volume-subpath is not supported yet")
			}
			mp.CopyData = !o.NoCopy
			mp.VolLabels = o.Labels
			if d := o.DriverConfig; d != nil {
				if d.Name != "" && d.Name != "local" {
					return MountPoint{}, errdefs.ErrNotImplemented.WithMessage(fmt.Sprintf("berth: volume driver %q is not supported (only local)", d.Name))
				}
				mp.VolOptions = d.Options
			}
		}
		return mp, nil
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
func (s *Service) mountSpecs(mps []MountPoint, rootfs string) (_ []specs.Mount, _ string, err error) {
	sorted := append([]MountPoint(nil), mps...)
	sortByDepth(sorted)
	var mounted []MountPoint
	defer func() {
		if err != nil {
			s.unmountVolumes(mounted)
		}
	}()
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
		if mp.Type == "volume" {
			if s.volumes == nil {
				return nil, "", errdefs.ErrUnavailable.WithMessage("berth: this daemon has no volume service")
			}
			if mp.Source, err = s.volumes.Mount(mp.Name); err != nil {
				return nil, "", err
			}
			mounted = append(mounted, mp)
			if mp.CopyData {
				if src, jerr := securejoin.SecureJoin(rootfs, mp.Destination); jerr == nil {
					if err := s.volumes.CopyUp(mp.Name, src); err != nil {
						return nil, "", err
					}
				}
			}
			opts := []string{"rbind", "rprivate"}
			if !mp.RW {
				opts = append(opts, "ro")
			}
			out = append(out, specs.Mount{Destination: mp.Destination, Type: "bind", Source: mp.Source, Options: opts})
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
			Mode: mp.Mode, RW: mp.RW, Propagation: mount.Propagation(mp.Propagation), Name: mp.Name}
		if mp.Type == "volume" {
			m.Driver = "local"
		}
		out = append(out, m)
	}
	return out
}

// sortedPaths are a Volumes map's paths, in order.
func sortedPaths(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// anonymousVolumes adds an anonymous volume for each path of vols
// (-v /path, an image's VOLUMEs) no mount covers, as Docker does.
func anonymousVolumes(mps []MountPoint, vols map[string]struct{}) []MountPoint {
	covered := map[string]bool{}
	for _, mp := range mps {
		covered[mp.Destination] = true
	}
	for _, v := range sortedPaths(vols) {
		if v = filepath.Clean(v); !covered[v] && filepath.IsAbs(v) && v != "/" {
			mps = append(mps, MountPoint{Type: "volume", Destination: v, RW: true, CopyData: true, Anonymous: true})
			covered[v] = true
		}
	}
	return mps
}

// acquireVolumes makes (or finds) the volumes of a container being
// created and records that it uses them, filling in their names and
// directories; on failure what it acquired is released.
func (s *Service) acquireVolumes(id string, mps []MountPoint) error {
	for i := range mps {
		mp := &mps[i]
		if mp.Type != "volume" {
			continue
		}
		if s.volumes == nil {
			s.releaseVolumes(id, mps[:i], true)
			return errdefs.ErrUnavailable.WithMessage("berth: this daemon has no volume service")
		}
		name, path, err := s.volumes.Acquire(mp.Name, id, mp.VolLabels, mp.VolOptions)
		if err != nil {
			s.releaseVolumes(id, mps[:i], true)
			return err
		}
		mp.Name, mp.Source = name, path
	}
	return nil
}

// releaseVolumes records that container id no longer uses its volumes;
// with anonymous set its anonymous volumes go too (rm -v, run --rm).
func (s *Service) releaseVolumes(id string, mps []MountPoint, anonymous bool) {
	for _, mp := range mps {
		if mp.Type != "volume" || mp.Name == "" || s.volumes == nil {
			continue
		}
		if err := s.volumes.Release(mp.Name, id, anonymous && mp.Anonymous); err != nil {
			slog.Warn("release a volume", "volume", mp.Name, "container", id[:min(12, len(id))], "err", err)
		}
	}
}

// unmountVolumes undoes the Mounts of a container's start.
func (s *Service) unmountVolumes(mps []MountPoint) {
	for _, mp := range mps {
		if mp.Type == "volume" && s.volumes != nil {
			s.volumes.Unmount(mp.Name)
		}
	}
}

// VolumeUsers are, by volume name, the containers whose records name it:
// what the volume service reconciles its own records with at start.
func (s *Service) VolumeUsers() map[string][]string {
	out := map[string][]string{}
	for _, r := range s.List() {
		for _, mp := range r.MountPoints {
			if mp.Type == "volume" && mp.Name != "" {
				out[mp.Name] = append(out[mp.Name], r.ID)
			}
		}
	}
	return out
}

// volumesFrom adds the mounts of the containers --volumes-from names
// (CONTAINER[:ro|rw]): their binds and volumes, read-only with :ro,
// read-write with :rw, as they are otherwise; a mount of the container's
// own at the same path wins.
func (s *Service) volumesFrom(refs []string, mps []MountPoint) ([]MountPoint, error) {
	covered := map[string]bool{}
	for _, mp := range mps {
		covered[mp.Destination] = true
	}
	for _, ref := range refs {
		name, mode, _ := strings.Cut(ref, ":")
		switch mode {
		case "", "ro", "rw":
		default:
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid mode for volumes-from: %s", mode))
		}
		e, err := s.lookup(name)
		if err != nil {
			return nil, notFoundAsInvalid(err)
		}
		e.mu.Lock()
		from := append([]MountPoint(nil), e.rec.MountPoints...)
		e.mu.Unlock()
		for _, mp := range from {
			if mp.Type == "tmpfs" || covered[mp.Destination] {
				continue
			}
			switch mode {
			case "ro":
				mp.RW = false
			case "rw":
				mp.RW = true
			}
			mp.Anonymous = false // the other container's: never removed with this one
			mp.Create = false
			mps = append(mps, mp)
			covered[mp.Destination] = true
		}
	}
	return mps, nil
}

// sortByDepth orders mounts parents first.
func sortByDepth(mps []MountPoint) {
	sort.SliceStable(mps, func(i, j int) bool {
		return strings.Count(mps[i].Destination, "/") < strings.Count(mps[j].Destination, "/")
	})
}
