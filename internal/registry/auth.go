package registry

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// LoadHtpasswd reads an htpasswd file of bcrypt entries ("user:$2y$...").
// Other hash schemes are refused: they are not safe to keep passwords in.
func LoadHtpasswd(path string) (map[string][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	users := map[string][]byte{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok || user == "" {
			return nil, fmt.Errorf("%s:%d: not user:hash", path, n)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("%s:%d: user %q: only bcrypt hashes are supported (htpasswd -B): %v", path, n, user, err)
		}
		users[user] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("%s: no users", path)
	}
	return users, nil
}

func (s *Server) authorized(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	hash, known := s.Users[user]
	if !known {
		// Spend the same time as for a known user.
		_ = bcrypt.CompareHashAndPassword(s.dummyHash(), []byte(pass))
		return false
	}
	return bcrypt.CompareHashAndPassword(hash, []byte(pass)) == nil
}

// dummyHash is what a password for an unknown user is checked against:
// a hash of the highest cost among the users', made on first need, so a
// wrong user name takes as long as a wrong password. (It used to be made
// at start-up at the lowest cost: every berth command paid for it, and an
// unknown name answered faster than a known one.)
func (s *Server) dummyHash() []byte {
	s.dummyOnce.Do(func() {
		cost := bcrypt.MinCost
		for _, h := range s.Users {
			if c, err := bcrypt.Cost(h); err == nil && c > cost {
				cost = c
			}
		}
		s.dummy, _ = bcrypt.GenerateFromPassword([]byte("x"), cost)
	})
	return s.dummy
}
