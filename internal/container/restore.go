package container

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

func (s *Service) deleteRecord(id string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(Bucket)).Delete([]byte(id))
	})
}

// Restore loads every container record, re-adopts containers whose shim
// still runs, records the real exit of those that ended while the daemon
// was away (restarting them if their policy says so), and removes what a
// crash left half-made: read-write layers, bundles and directories that no
// record names.
func (s *Service) Restore() error {
	var recs []Record
	left := map[string]bool{} // records this berth cannot read: their files stay
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(Bucket)).ForEach(func(k, v []byte) error {
			var r Record
			if err := json.Unmarshal(v, &r); err != nil {
				slog.Warn("skipping unreadable container record", "id", string(k), "err", err)
				left[string(k)] = true
				return nil
			}
			if r.Version > RecordVersion {
				// Left as it is, files included: a newer berth wrote it.
				slog.Warn("leaving alone a container record of a newer berth", "id", string(k),
					"format", r.Version, "this berth reads up to", RecordVersion)
				left[string(k)] = true
				return nil
			}
			recs = append(recs, r)
			return nil
		})
	})
	if err != nil {
		return err
	}
	// Every entry goes into the maps first, under the lock: the goroutines
	// started below (monitors, removals, restarts) read and delete there.
	known := map[string]bool{}
	for id := range left {
		known[id] = true
	}
	entries := make([]*entry, 0, len(recs))
	s.mu.Lock()
	for _, r := range recs {
		known[r.ID] = true
		e := &entry{rec: r, exitCh: make(chan struct{}), rmCh: make(chan struct{})}
		s.byID[r.ID] = e
		s.names[r.Name] = r.ID
		entries = append(entries, e)
	}
	s.mu.Unlock()
	var toRestart []*entry
	for _, e := range entries {
		r := e.rec // no goroutine knows e yet
		switch {
		case r.State.Status == "removing":
			// The daemon died in the middle of an rm: finish it.
			slog.Info("finishing an interrupted removal", "id", r.ID[:12])
			go func() { _ = s.remove(e, true) }()
		case r.Running():
			task := s.rt.Task(r.ID)
			st, err := task.State()
			if err == nil && st.Status != "stopped" {
				e.rec.State.Status = st.Status
				if st.Status == "created" { // the daemon died between create and start
					_ = task.Kill(9)
				}
				for _, mp := range r.MountPoints {
					if mp.Type == "volume" && s.volumes != nil {
						s.volumes.Remounted(mp.Name)
					}
				}
				slog.Info("re-adopted running container", "id", r.ID[:12], "status", st.Status)
				go s.monitor(e, task)
				continue
			}
			exit, err := task.Exit()
			e.rec.State.Status, e.rec.State.Pid = "exited", 0
			if err == nil {
				e.rec.State.ExitCode, e.rec.State.FinishedAt, e.rec.State.OOMKilled = exit.Code, exit.ExitedAt, exit.OOMKilled
				slog.Info("container exited while the daemon was down", "id", r.ID[:12], "exitCode", exit.Code)
			} else {
				e.rec.State.ExitCode, e.rec.State.Error = 255, "container's shim is gone and left no exit status"
				e.rec.State.FinishedAt = time.Now().UTC()
			}
			_ = s.layers.Unmount(r.ID)
			s.releaseShm(&r)
			s.releaseNetwork(r.ID)
			e.rec.detach()
			_ = s.rt.Delete(r.ID)
			_ = s.persist(&e.rec)
			if e.rec.HostConfig.AutoRemove {
				go func() { _ = s.remove(e, true) }()
			} else if restart, _ := s.shouldRestart(&e.rec); restart {
				toRestart = append(toRestart, e)
			}
		default:
			// As Docker: at daemon start, "always" containers start again
			// even if stopped by hand; "unless-stopped" ones unless they were.
			if r.State.Status == "exited" && !r.State.FinishedAt.IsZero() {
				switch r.HostConfig.RestartPolicy.Name {
				case "always":
					toRestart = append(toRestart, e)
				case "unless-stopped":
					if !r.ManualStop {
						toRestart = append(toRestart, e)
					}
				}
			}
			// A shim may run for a container recorded as not running: the
			// daemon died between creating it and recording the start.
			task := s.rt.Task(r.ID)
			if st, err := task.State(); err == nil && st.Status != "stopped" {
				slog.Info("stopping a container whose start was not recorded", "id", r.ID[:12])
				_ = task.Kill(9)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, _ = task.Wait(ctx)
				cancel()
			}
			_ = s.rt.Delete(r.ID)
			_ = s.layers.Unmount(r.ID)
			s.releaseShm(&r)
			s.releaseNetwork(r.ID)
			e.rec.detach()
		}
	}
	// Leftovers of a crash mid-create or mid-remove.
	if ids, err := s.layers.RWIDs(); err == nil {
		for _, id := range ids {
			if !known[id] {
				slog.Info("removing orphan container filesystem", "id", id)
				_ = s.layers.RemoveRW(id)
			}
		}
	}
	for _, id := range s.rt.Bundles() {
		if !known[id] {
			_ = s.rt.Delete(id)
		}
	}
	if entries, err := os.ReadDir(s.root); err == nil {
		for _, d := range entries {
			if !known[d.Name()] {
				_ = os.RemoveAll(filepath.Join(s.root, d.Name()))
			}
		}
	}
	for _, e := range toRestart {
		e.mu.Lock()
		e.rec.ManualStop = false
		e.beginStart()
		id := e.rec.ID
		e.mu.Unlock()
		go func() {
			err := s.start(context.Background(), e)
			e.mu.Lock()
			e.endStart()
			e.mu.Unlock()
			if err != nil {
				slog.Error("restart container after daemon restart", "id", id, "err", err)
			}
		}()
	}
	return nil
}
