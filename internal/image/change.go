package image

import (
	"encoding/json"
	"fmt"
	"strings"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
)

// ApplyChanges applies Dockerfile-style instructions (as `docker import
// --change` takes them) to cfg.
func ApplyChanges(cfg *dockerspec.DockerOCIImageConfig, changes []string) error {
	for _, c := range changes {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		instr, args, _ := strings.Cut(c, " ")
		args = strings.TrimSpace(args)
		switch strings.ToUpper(instr) {
		case "CMD":
			cfg.Cmd = commandForm(args)
		case "ENTRYPOINT":
			cfg.Entrypoint = commandForm(args)
		case "ENV":
			kvs, err := keyValues(args, true)
			if err != nil {
				return fmt.Errorf("ENV: %w", err)
			}
			for _, kv := range kvs {
				cfg.Env = setEnv(cfg.Env, kv[0], kv[1])
			}
		case "LABEL":
			kvs, err := keyValues(args, false)
			if err != nil {
				return fmt.Errorf("LABEL: %w", err)
			}
			if cfg.Labels == nil {
				cfg.Labels = map[string]string{}
			}
			for _, kv := range kvs {
				cfg.Labels[kv[0]] = kv[1]
			}
		case "EXPOSE":
			if cfg.ExposedPorts == nil {
				cfg.ExposedPorts = map[string]struct{}{}
			}
			for _, p := range strings.Fields(args) {
				if !strings.Contains(p, "/") {
					p += "/tcp"
				}
				cfg.ExposedPorts[p] = struct{}{}
			}
		case "USER":
			cfg.User = args
		case "WORKDIR":
			cfg.WorkingDir = args
		case "STOPSIGNAL":
			cfg.StopSignal = args
		case "VOLUME":
			if cfg.Volumes == nil {
				cfg.Volumes = map[string]struct{}{}
			}
			var vols []string
			if json.Unmarshal([]byte(args), &vols) != nil {
				vols = strings.Fields(args)
			}
			for _, v := range vols {
				cfg.Volumes[v] = struct{}{}
			}
		case "ONBUILD":
			cfg.OnBuild = append(cfg.OnBuild, args)
		default:
			return fmt.Errorf("%s is not a valid change command", instr)
		}
	}
	return nil
}

// commandForm parses the JSON (exec) form, or wraps the shell form in
// /bin/sh -c as Docker does.
func commandForm(args string) []string {
	var list []string
	if strings.HasPrefix(args, "[") && json.Unmarshal([]byte(args), &list) == nil {
		return list
	}
	return []string{"/bin/sh", "-c", args}
}

// keyValues parses "k=v k2='v 2'" or, for ENV, the legacy "k v" form.
func keyValues(args string, legacy bool) ([][2]string, error) {
	words, err := splitWords(args)
	if err != nil {
		return nil, err
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("requires at least one argument")
	}
	if !strings.Contains(words[0], "=") {
		if !legacy || len(words) < 2 {
			return nil, fmt.Errorf("expected key=value, got %q", args)
		}
		k, v, _ := strings.Cut(args, " ")
		return [][2]string{{k, strings.TrimSpace(v)}}, nil
	}
	var out [][2]string
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("expected key=value, got %q", w)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// splitWords splits on blanks, honouring single and double quotes and
// backslash escapes.
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	esc := false
	for _, r := range s {
		switch {
		case esc:
			cur.WriteRune(r)
			esc = false
		case r == '\\' && quote != '\'':
			esc, inWord = true, true
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

func setEnv(env []string, k, v string) []string {
	for i, e := range env {
		if name, _, _ := strings.Cut(e, "="); name == k {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}
