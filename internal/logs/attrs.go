package logs

import (
	"bytes"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"text/template"
)

// Info is what a container's log attributes are made of.
type Info struct {
	ContainerID, ContainerName, ImageID, ImageName, Hostname string
	Command                                                  string
	Labels                                                   map[string]string
	Env                                                      []string
}

// The methods a --log-opt tag template calls, as Docker's logger.Info.

func (i Info) ID() string          { return short(i.ContainerID) }
func (i Info) FullID() string      { return i.ContainerID }
func (i Info) Name() string        { return strings.TrimPrefix(i.ContainerName, "/") }
func (i Info) ImageFullID() string { return i.ImageID }
func (i Info) DaemonName() string  { return "docker" } // what tags written for Docker expect

// ImageShortID is the image's 12-character ID.
func (i Info) ImageShortID() string { return short(strings.TrimPrefix(i.ImageID, "sha256:")) }

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// tagTemplate parses a tag option (Docker's {{.ID}}, {{.Name}}, ...).
func tagTemplate(tag string) (*template.Template, error) {
	t, err := template.New("log-tag").Parse(tag)
	if err != nil {
		return nil, fmt.Errorf("invalid log tag %q: %w", tag, err)
	}
	return t, nil
}

// Attributes are the extra attributes json-file keeps with every line
// (and `logs --details` shows), from the log options labels,
// labels-regex, env, env-regex and tag, as Docker's json-file makes them.
func Attributes(opts map[string]string, info Info) (map[string]string, error) {
	extra := map[string]string{}
	if labels := opts["labels"]; labels != "" {
		for _, l := range strings.Split(labels, ",") {
			if v, ok := info.Labels[l]; ok {
				extra[l] = v
			}
		}
	}
	if re := opts["labels-regex"]; re != "" {
		r, err := regexp.Compile(re)
		if err != nil {
			return nil, err
		}
		for k, v := range info.Labels {
			if r.MatchString(k) {
				extra[k] = v
			}
		}
	}
	env := map[string]string{}
	for _, e := range info.Env {
		if k, v, ok := strings.Cut(e, "="); ok {
			env[k] = v
		}
	}
	if names := opts["env"]; names != "" {
		for _, k := range strings.Split(names, ",") {
			if v, ok := env[k]; ok {
				extra[k] = v
			}
		}
	}
	if re := opts["env-regex"]; re != "" {
		r, err := regexp.Compile(re)
		if err != nil {
			return nil, err
		}
		for k, v := range env {
			if r.MatchString(k) {
				extra[k] = v
			}
		}
	}
	if tag := opts["tag"]; tag != "" {
		t, err := tagTemplate(tag)
		if err != nil {
			return nil, err
		}
		var b bytes.Buffer
		if err := t.Execute(&b, info); err != nil {
			return nil, fmt.Errorf("invalid log tag %q: %w", tag, err)
		}
		extra["tag"] = b.String()
	}
	if len(extra) == 0 {
		return nil, nil
	}
	return extra, nil
}

// Details is the `logs --details` prefix of an entry: its attributes as
// key=value pairs sorted by key, query-escaped, comma-separated, then a
// space (a lone space for none), as Docker prints them.
func Details(attrs map[string]string) string {
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(url.QueryEscape(k) + "=" + url.QueryEscape(attrs[k]))
	}
	b.WriteByte(' ')
	return b.String()
}
