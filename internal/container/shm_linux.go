package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/docker/docker/api/types/container"
	"golang.org/x/sys/unix"
)

// A shareable IPC container's /dev/shm is a tmpfs the daemon mounts on the
// host, in the container's directory, and binds into it and into the
// containers that join its IPC namespace (--ipc container:NAME), as
// Docker does: a mount inside another container's mount namespace cannot
// be bound from outside it.

func shmPath(dir string) string { return filepath.Join(dir, "shm") }

// mountShm mounts the container's shared /dev/shm, if it has none yet.
func mountShm(dir string, hc *container.HostConfig) (string, error) {
	p := shmPath(dir)
	if err := os.MkdirAll(p, 0o700); err != nil {
		return "", err
	}
	var st, parent unix.Stat_t
	if unix.Stat(p, &st) == nil && unix.Stat(dir, &parent) == nil && st.Dev != parent.Dev {
		return p, nil // mounted by an earlier start that did not end
	}
	size := hc.ShmSize
	if size <= 0 {
		size = 64 << 20
	}
	if err := unix.Mount("shm", p, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, fmt.Sprintf("mode=1777,size=%d", size)); err != nil {
		return "", fmt.Errorf("mount the shareable /dev/shm: %w", err)
	}
	return p, nil
}

// releaseShm unmounts a shareable container's /dev/shm (other containers
// have none: nothing to do on their stops).
func (s *Service) releaseShm(r *Record) {
	if r.HostConfig.IpcMode.IsShareable() {
		unmountShm(r.Dir)
	}
}

// unmountShm releases the container's shared /dev/shm (if it has one):
// containers that joined it keep their binds.
func unmountShm(dir string) {
	p := shmPath(dir)
	for {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil {
			if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
				return
			}
			break
		}
	}
	_ = os.Remove(p)
}
