package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"text/template"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
	"github.com/docker/go-connections/tlsconfig"
	"github.com/moby/term"
	"github.com/spf13/cobra"
)

// DefaultHost is the daemon's default socket.
const DefaultHost = "unix:///run/berth/berth.sock"

// CLI holds what commands share.
type CLI struct {
	Host string
	// TLS to a tcp:// daemon, as the docker CLI takes it: TLSVerify checks
	// the daemon's certificate against TLSCACert (and sends TLSCert and
	// TLSKey, which a --tlsverify daemon requires); TLS alone encrypts
	// without checking. DOCKER_TLS_VERIFY and DOCKER_CERT_PATH (default
	// ~/.docker) set them too.
	TLS, TLSVerify             bool
	TLSCACert, TLSCert, TLSKey string
	In                         io.Reader
	Out                        io.Writer
	Err                        io.Writer
	client                     *client.Client
}

// clientOptions are the API client's options for host.
func (c *CLI) clientOptions(host string) ([]client.Opt, error) {
	if strings.HasPrefix(host, "ssh://") {
		u, err := url.Parse(host)
		if err != nil {
			return nil, fmt.Errorf("invalid host %q: %w", host, err)
		}
		dial, err := sshDialer(u)
		if err != nil {
			return nil, err
		}
		// The address is never dialled: the connection is ssh's stdio.
		return []client.Opt{client.WithHost("http://berth.ssh"), client.WithDialContext(dial), client.WithAPIVersionNegotiation()}, nil
	}
	opts := []client.Opt{client.WithHost(host), client.WithAPIVersionNegotiation()}
	verify := c.TLSVerify || os.Getenv("DOCKER_TLS_VERIFY") != ""
	if !verify && !c.TLS {
		return opts, nil
	}
	dir := os.Getenv("DOCKER_CERT_PATH")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".docker")
	}
	pick := func(flag, name string) string {
		if flag != "" {
			return flag
		}
		return filepath.Join(dir, name)
	}
	o := tlsconfig.Options{CertFile: pick(c.TLSCert, "cert.pem"), KeyFile: pick(c.TLSKey, "key.pem"), ExclusiveRootPools: true}
	if verify {
		o.CAFile = pick(c.TLSCACert, "ca.pem")
	} else {
		o.InsecureSkipVerify = true
	}
	for _, f := range []*string{&o.CertFile, &o.KeyFile} {
		if _, err := os.Stat(*f); err != nil && c.TLSCert == "" && c.TLSKey == "" {
			*f = "" // no client certificate where the defaults look: go without
		}
	}
	cfg, err := tlsconfig.Client(o)
	if err != nil {
		return nil, err
	}
	return append(opts, client.WithHTTPClient(&http.Client{Transport: &http.Transport{TLSClientConfig: cfg}})), nil
}

// New returns a CLI on the standard streams.
func New() *CLI {
	return &CLI{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}
}

// StatusError carries an exit code (and an optional message) up to Main.
type StatusError struct {
	Status string
	Code   int
}

func (e StatusError) Error() string { return e.Status }

// Client returns the API client, starting a daemon first if needed.
func (c *CLI) Client(ctx context.Context) (*client.Client, error) {
	if c.client != nil {
		return c.client, nil
	}
	host := c.Host
	if host == "" {
		host = os.Getenv("BERTH_HOST")
	}
	if host == "" {
		host = os.Getenv("DOCKER_HOST")
	}
	if host == "" {
		host = DefaultHost
	}
	opts, err := c.clientOptions(host)
	if err != nil {
		return nil, err
	}
	cl, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, err
	}
	ping, err := cl.Ping(ctx)
	if err != nil {
		if host != DefaultHost || os.Geteuid() != 0 || !client.IsErrConnectionFailed(err) {
			return nil, err
		}
		if ping, err = c.startDaemon(ctx, cl); err != nil {
			return nil, err
		}
	}
	cl.NegotiateAPIVersionPing(ping) // one ping serves both purposes
	c.client = cl
	return cl, nil
}

// startDaemon runs `berth daemon` in the background and waits until it answers.
func (c *CLI) startDaemon(ctx context.Context, cl *client.Client) (types.Ping, error) {
	self, err := os.Executable()
	if err != nil {
		return types.Ping{}, err
	}
	logPath := "/var/log/berth.log"
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return types.Ping{}, err
	}
	defer logf.Close()
	cmd := exec.Command(self, "daemon")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Dir = "/"
	if err := cmd.Start(); err != nil {
		return types.Ping{}, fmt.Errorf("start daemon: %w", err)
	}
	fmt.Fprintf(c.Err, "berth: no daemon answered on %s; started one in the background (pid %d, log %s)\n", DefaultHost, cmd.Process.Pid, logPath)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if ping, err := cl.Ping(ctx); err == nil {
			cmd.Process.Release()
			return ping, nil
		}
		select {
		case err := <-exited:
			return types.Ping{}, fmt.Errorf("the daemon exited at start (%v); see %s", err, logPath)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return types.Ping{}, fmt.Errorf("the daemon did not answer within 15s; see %s", logPath)
}

// Format renders v with a Go template as docker's --format does
// ("table" prefix → aligned columns with a header, "json" → one JSON line).
type Format struct {
	tmpl  *template.Template
	table bool
	tw    *tabwriter.Writer
	w     io.Writer
	rows  int
}

var funcs = template.FuncMap{
	"json": func(v any) string {
		b, _ := json.Marshal(v)
		return string(b)
	},
	"join":     strings.Join,
	"lower":    strings.ToLower,
	"upper":    strings.ToUpper,
	"title":    func(s string) string { return strings.ToUpper(s[:min(1, len(s))]) + s[min(1, len(s)):] },
	"split":    strings.Split,
	"truncate": func(s string, n int) string { return s[:min(n, len(s))] },
	"pad":      func(s string, l, r int) string { return strings.Repeat(" ", l) + s + strings.Repeat(" ", r) },
	"println":  func(a ...any) string { return fmt.Sprintln(a...) },
}

// NewFormat parses format; header maps field names to column titles for
// table formats.
func NewFormat(w io.Writer, format string, header map[string]string) (*Format, error) {
	f := &Format{w: w}
	if format == "json" {
		format = "{{json .}}"
	}
	if rest, ok := strings.CutPrefix(format, "table"); ok {
		f.table = true
		format = strings.TrimSpace(rest)
		f.tw = tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)
		w = f.tw
		format = strings.ReplaceAll(format, `\t`, "\t")
		h := format
		for k, v := range header {
			h = strings.ReplaceAll(h, "{{."+k+"}}", v)
			h = strings.ReplaceAll(h, "{{ ."+k+" }}", v)
		}
		if _, err := fmt.Fprintln(w, h); err != nil {
			return nil, err
		}
	}
	format = strings.ReplaceAll(format, `\t`, "\t")
	format = strings.ReplaceAll(format, `\n`, "\n")
	t, err := template.New("format").Funcs(funcs).Parse(format)
	if err != nil {
		return nil, StatusError{Status: "template parsing error: " + err.Error(), Code: 64}
	}
	f.tmpl = t
	return f, nil
}

// Row renders one item.
func (f *Format) Row(v any) error {
	var w io.Writer = f.w
	if f.tw != nil {
		w = f.tw
	}
	if err := f.tmpl.Execute(w, v); err != nil {
		return StatusError{Status: "template: " + err.Error(), Code: 1}
	}
	_, err := fmt.Fprintln(w)
	return err
}

// Flush ends the output.
func (f *Format) Flush() error {
	if f.tw != nil {
		return f.tw.Flush()
	}
	return nil
}

// ExitCode maps an error to the CLI's exit status and message.
func ExitCode(err error) (int, string) {
	var se StatusError
	if errors.As(err, &se) {
		return se.Code, se.Status
	}
	return 1, err.Error()
}

// RequiresMinArgs is cobra's argument check with Docker's wording.
func RequiresMinArgs(n int) func(cmd *cobra.Command, args []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= n {
			return nil
		}
		plural := ""
		if n > 1 {
			plural = "s"
		}
		return StatusError{Code: 125, Status: fmt.Sprintf("%q requires at least %d argument%s.\nSee '%s --help'.\n\nUsage:  %s\n\n%s",
			cmd.CommandPath(), n, plural, cmd.CommandPath(), cmd.UseLine(), cmd.Short)}
	}
}

// RequiresExactArgs is the exact-count variant.
func RequiresExactArgs(n int) func(cmd *cobra.Command, args []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == n {
			return nil
		}
		plural := ""
		if n > 1 {
			plural = "s"
		}
		return StatusError{Code: 125, Status: fmt.Sprintf("%q requires exactly %d argument%s.\nSee '%s --help'.\n\nUsage:  %s\n\n%s",
			cmd.CommandPath(), n, plural, cmd.CommandPath(), cmd.UseLine(), cmd.Short)}
	}
}

// PrintJSONMessages renders a JSON message stream (pull, push, load) as
// the docker CLI does: progress bars on a terminal, lines otherwise. It
// returns the first error message in the stream.
func PrintJSONMessages(r io.Reader, w io.Writer) error {
	var fd uintptr
	isTerm := false
	if f, ok := w.(*os.File); ok {
		fd, isTerm = term.GetFdInfo(f)
	}
	err := jsonmessage.DisplayJSONMessagesStream(r, w, fd, isTerm, nil)
	var jerr *jsonmessage.JSONError
	if errors.As(err, &jerr) {
		return errors.New(jerr.Message)
	}
	return err
}

// NewTable returns a tab writer aligned as docker's tables are.
func NewTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)
}

// TruncateID shortens an ID (with or without "sha256:") to 12 characters.
func TruncateID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	return id[:min(12, len(id))]
}

// Inspect prints raw JSON objects (indented, in a list) or a template per
// object, as docker's inspect commands do.
func Inspect(c *CLI, refs []string, format string, get func(ref string) (any, []byte, error)) error {
	var raws []json.RawMessage
	var objs []any
	failed := false
	for _, r := range refs {
		obj, raw, err := get(r)
		if err != nil {
			fmt.Fprintln(c.Err, "Error:", strings.TrimPrefix(err.Error(), "Error response from daemon: "))
			failed = true
			continue
		}
		raws = append(raws, raw)
		objs = append(objs, obj)
	}
	if format != "" {
		// As docker's inspect: the typed object first (Go field names,
		// {{.HostConfig.CPUShares}}), and if the template fails on it, the
		// raw JSON (its keys, {{.HostConfig.CpuShares}}).
		for i, raw := range raws {
			var out bytes.Buffer
			f, err := NewFormat(&out, format, nil)
			if err != nil {
				return err
			}
			if err := f.Row(objs[i]); err != nil {
				var v any
				dec := json.NewDecoder(bytes.NewReader(raw))
				dec.UseNumber() // 134217728, not 1.34217728e+08, as typed numbers print
				_ = dec.Decode(&v)
				out.Reset()
				if err := f.Row(v); err != nil {
					return err
				}
			}
			if _, err := c.Out.Write(out.Bytes()); err != nil {
				return err
			}
		}
	} else {
		b, _ := json.MarshalIndent(raws, "", "    ")
		if len(raws) == 0 {
			b = []byte("[]")
		}
		fmt.Fprintln(c.Out, string(b))
	}
	if failed {
		return StatusError{Code: 1}
	}
	return nil
}
