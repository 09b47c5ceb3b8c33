package db

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Open opens the bbolt file at path and makes sure the named buckets exist.
// It waits at most a second for another process holding the file.
func Open(path string, buckets ...string) (*bolt.DB, error) {
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w (is another daemon using this data root?)", path, err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		for _, b := range buckets {
			if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		bdb.Close()
		return nil, err
	}
	return bdb, nil
}
