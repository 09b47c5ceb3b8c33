package volume

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// Bucket is the bbolt bucket of volume records.
const Bucket = "volumes"

// validName is Docker's rule for volume names.
var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// Volume is a volume's record.
type Volume struct {
	Name      string
	Driver    string // "local"
	Labels    map[string]string
	Options   map[string]string // the local driver's: type, device, o
	CreatedAt time.Time
	Anonymous bool `json:",omitempty"` // named by berth for a container (-v /path, an image VOLUME)
	// UsedBy are the containers whose configuration names the volume.
	UsedBy []string `json:",omitempty"`
	// Mounts counts the running containers that have it mounted (for -o
	// type= volumes, mounted while it is above 0); not persisted.
	mounts int
}

// Service is the volume service. Its methods are safe for concurrent use.
type Service struct {
	db   *bolt.DB
	root string // <data-root>/volumes
	mu   sync.Mutex
	vols map[string]*Volume
}

// New opens the volume store under root.
func New(db *bolt.DB, root string) (*Service, error) {
	if err := os.MkdirAll(root, 0o701); err != nil {
		return nil, err
	}
	s := &Service{db: db, root: root, vols: map[string]*Volume{}}
	err := db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(Bucket)).ForEach(func(k, v []byte) error {
			var vol Volume
			if err := json.Unmarshal(v, &vol); err != nil {
				return fmt.Errorf("volume record %s: %w", k, err)
			}
			s.vols[vol.Name] = &vol
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	// A directory no record names: a crash between making it and
	// recording it, or between forgetting it and removing it.
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		if _, ok := s.vols[e.Name()]; !ok {
			_ = unix.Unmount(filepath.Join(root, e.Name(), "_data"), unix.MNT_DETACH)
			_ = os.RemoveAll(filepath.Join(root, e.Name()))
		}
	}
	return s, nil
}

// Path is volume name's data directory.
func (s *Service) Path(name string) string { return filepath.Join(s.root, name, "_data") }

func (s *Service) persist(v *Volume) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte(Bucket)).Put([]byte(v.Name), b) })
}

// CreateOptions are what `volume create` and a container's mount ask.
type CreateOptions struct {
	Name      string // "": an anonymous volume, named at random
	Driver    string
	Labels    map[string]string
	Options   map[string]string
	Anonymous bool
}

// Create makes a volume, or returns the one of that name (as Docker: the
// same driver is no conflict).
func (s *Service) Create(o CreateOptions) (Volume, error) {
	v, _, err := s.create(o, "")
	return v, err
}

// create makes a volume, used by container user if set (recorded in the
// same write), or finds the one of that name (made reports which).
func (s *Service) create(o CreateOptions, user string) (_ Volume, made bool, _ error) {
	if o.Driver != "" && o.Driver != "local" {
		return Volume{}, false, errdefs.ErrNotImplemented.WithMessage(fmt.Sprintf("berth: volume driver %q is not supported (only local)", o.Driver))
	}
	if err := checkOptions(o.Options); err != nil {
		return Volume{}, false, err
	}
	if o.Name == "" {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		o.Name, o.Anonymous = hex.EncodeToString(b), true
	}
	if !validName.MatchString(o.Name) {
		return Volume{}, false, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("create %s: %q includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path", o.Name, o.Name))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.vols[o.Name]; ok {
		return v.copy(), false, nil
	}
	v := &Volume{Name: o.Name, Driver: "local", Labels: o.Labels, Options: o.Options, CreatedAt: time.Now().UTC().Truncate(time.Second), Anonymous: o.Anonymous}
	if user != "" {
		v.UsedBy = []string{user}
	}
	if v.Labels == nil {
		v.Labels = map[string]string{}
	}
	if v.Options == nil {
		v.Options = map[string]string{}
	}
	// The directory first: a crash before the record leaves a directory
	// the next start removes; one after leaves a whole volume.
	if err := os.MkdirAll(s.Path(v.Name), 0o755); err != nil {
		return Volume{}, false, err
	}
	if err := s.persist(v); err != nil {
		_ = os.RemoveAll(filepath.Join(s.root, v.Name))
		return Volume{}, false, err
	}
	s.vols[v.Name] = v
	return v.copy(), true, nil
}

// checkOptions accepts the local driver's options: type, device, o.
func checkOptions(opts map[string]string) error {
	for k := range opts {
		switch k {
		case "type", "device", "o":
		default:
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid option key: %q", k))
		}
	}
	if opts["type"] != "" && opts["device"] == "" {
		return errdefs.ErrInvalidArgument.WithMessage("missing required option: \"device\"")
	}
	return nil
}

func (v *Volume) copy() Volume {
	c := *v
	c.UsedBy = append([]string(nil), v.UsedBy...)
	return c
}

// Get finds a volume by name.
func (s *Service) Get(name string) (Volume, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.vols[name]
	if !ok {
		return Volume{}, errdefs.ErrNotFound.WithMessage("get " + name + ": no such volume")
	}
	return v.copy(), nil
}

// List is every volume, by name.
func (s *Service) List() []Volume {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Volume, 0, len(s.vols))
	for _, v := range s.vols {
		out = append(out, v.copy())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Acquire returns volume name's data directory, making the volume if it
// does not exist (name "": an anonymous one, whose name is returned) with
// labels and the local driver's opts, and records that container ctr
// uses it (what a container's create asks of a volume).
func (s *Service) Acquire(name, ctr string, labels, opts map[string]string) (string, string, error) {
	v, made, err := s.create(CreateOptions{Name: name, Labels: labels, Options: opts}, ctr)
	if err != nil {
		return "", "", err
	}
	if !made { // an existing volume: one more user
		if err := s.Use(v.Name, ctr); err != nil {
			return "", "", err
		}
	}
	return v.Name, s.Path(v.Name), nil
}

// Use records that container ctr uses volume name.
func (s *Service) Use(name, ctr string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.vols[name]
	if !ok {
		return errdefs.ErrNotFound.WithMessage("get " + name + ": no such volume")
	}
	for _, c := range v.UsedBy {
		if c == ctr {
			return nil
		}
	}
	v.UsedBy = append(v.UsedBy, ctr)
	return s.persist(v)
}

// Release records that container ctr no longer uses volume name, and
// removes the volume if remove is set, it is an anonymous one and nothing
// else uses it (a removed container's): a named volume never goes with a
// container.
func (s *Service) Release(name, ctr string, remove bool) error {
	s.mu.Lock()
	v, ok := s.vols[name]
	if !ok {
		s.mu.Unlock()
		return nil
	}
	remove = remove && v.Anonymous
	out := v.UsedBy[:0]
	for _, c := range v.UsedBy {
		if c != ctr {
			out = append(out, c)
		}
	}
	v.UsedBy = out
	err := s.persist(v)
	s.mu.Unlock()
	if err != nil || !remove {
		return err
	}
	if err := s.Remove(name, false); err != nil && !errdefs.IsConflict(err) {
		return err
	}
	return nil
}

// Reconcile sets which containers use which volumes from the containers'
// own records (the truth after a crash between the two stores).
func (s *Service) Reconcile(users map[string][]string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, v := range s.vols {
		want := append([]string(nil), users[name]...)
		sort.Strings(want)
		have := append([]string(nil), v.UsedBy...)
		sort.Strings(have)
		if strings.Join(want, ",") != strings.Join(have, ",") {
			v.UsedBy = want
			if err := s.persist(v); err != nil {
				return err
			}
		}
	}
	return nil
}

// Remove deletes a volume no container uses (force: also one that is
// missing, as Docker's rm -f).
func (s *Service) Remove(name string, force bool) error {
	s.mu.Lock()
	v, ok := s.vols[name]
	if !ok {
		s.mu.Unlock()
		if force {
			return nil
		}
		return errdefs.ErrNotFound.WithMessage("get " + name + ": no such volume")
	}
	if len(v.UsedBy) > 0 {
		s.mu.Unlock()
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("remove %s: volume is in use - [%s]", name, strings.Join(v.UsedBy, ", ")))
	}
	// The record first: a crash after leaves a directory the next start
	// removes, never a record without its data.
	err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte(Bucket)).Delete([]byte(name)) })
	if err == nil {
		delete(s.vols, name)
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	_ = unix.Unmount(s.Path(name), unix.MNT_DETACH)
	return os.RemoveAll(filepath.Join(s.root, name))
}

// Prune removes the volumes no container uses that keep accepts
// (anonymous ones only unless all), and returns them and the bytes freed.
func (s *Service) Prune(all bool, keep func(Volume) bool) ([]string, uint64, error) {
	var gone []string
	var freed uint64
	for _, v := range s.List() {
		if len(v.UsedBy) > 0 || (!all && !v.Anonymous) || (keep != nil && keep(v)) {
			continue
		}
		size := dirSize(s.Path(v.Name))
		if err := s.Remove(v.Name, false); err != nil {
			if errdefs.IsConflict(err) || errdefs.IsNotFound(err) {
				continue
			}
			return gone, freed, err
		}
		gone = append(gone, v.Name)
		freed += size
	}
	return gone, freed, nil
}

// Mount makes volume name's directory ready for a starting container: a
// volume with -o type= is mounted there for its first user.
func (s *Service) Mount(name string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.vols[name]
	if !ok {
		return "", errdefs.ErrNotFound.WithMessage("get " + name + ": no such volume")
	}
	path := s.Path(name)
	if typ := v.Options["type"]; typ != "" && v.mounts == 0 {
		flags, data := mountFlags(v.Options["o"])
		if typ == "none" {
			flags |= unix.MS_BIND
		}
		if err := unix.Mount(v.Options["device"], path, typ, flags, data); err != nil {
			return "", fmt.Errorf("mount volume %s (type=%s device=%s o=%s): %w", name, typ, v.Options["device"], v.Options["o"], err)
		}
	}
	v.mounts++
	return path, nil
}

// Unmount undoes Mount.
func (s *Service) Unmount(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.vols[name]
	if !ok || v.mounts == 0 {
		return
	}
	v.mounts--
	if v.mounts == 0 && v.Options["type"] != "" {
		_ = unix.Unmount(s.Path(name), unix.MNT_DETACH)
	}
}

// Remounted tells the service that volume name is mounted for a running
// container the daemon re-adopted.
func (s *Service) Remounted(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.vols[name]; ok {
		v.mounts++
	}
}

// mountFlags splits -o o=... into mount flags and data, as mount(8).
func mountFlags(o string) (uintptr, string) {
	known := map[string]uintptr{"ro": unix.MS_RDONLY, "nosuid": unix.MS_NOSUID, "nodev": unix.MS_NODEV, "noexec": unix.MS_NOEXEC,
		"sync": unix.MS_SYNCHRONOUS, "noatime": unix.MS_NOATIME, "bind": unix.MS_BIND, "rbind": unix.MS_BIND | unix.MS_REC}
	var flags uintptr
	var data []string
	for _, opt := range strings.Split(o, ",") {
		if opt == "" || opt == "rw" {
			continue
		}
		if f, ok := known[opt]; ok {
			flags |= f
			continue
		}
		data = append(data, opt)
	}
	return flags, strings.Join(data, ",")
}

func dirSize(dir string) uint64 {
	var n uint64
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if fi, err := d.Info(); err == nil && fi.Mode().IsRegular() {
			n += uint64(fi.Size())
		}
		return nil
	})
	return n
}
