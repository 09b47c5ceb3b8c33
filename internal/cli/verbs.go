package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/spf13/cobra"
)

// NewInspectCommand is an `inspect [-f FORMAT] NAME...` command of an
// object kind: get fetches one object (and its raw JSON).
func NewInspectCommand(c *CLI, use, short string, get func(ctx context.Context, cl *client.Client, ref string) (any, []byte, error)) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			return Inspect(c, args, format, func(ref string) (any, []byte, error) { return get(cmd.Context(), cl, ref) })
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a Go template")
	return cmd
}

// RemoveEach removes each of names with remove, printing each name
// removed and each error as the docker CLI does; it fails (exit 1) if
// any did.
func RemoveEach(c *CLI, names []string, remove func(name string) error) error {
	failed := false
	for _, n := range names {
		if err := remove(n); err != nil {
			fmt.Fprintln(c.Err, "Error response from daemon:", strings.TrimPrefix(err.Error(), "Error response from daemon: "))
			failed = true
			continue
		}
		fmt.Fprintln(c.Out, n)
	}
	if failed {
		return StatusError{Code: 1}
	}
	return nil
}

// KeyValues reads KEY=VALUE flags (--label, -o) into a map (nil for
// none).
func KeyValues(list []string) map[string]string {
	if len(list) == 0 {
		return nil
	}
	m := map[string]string{}
	for _, s := range list {
		k, v, _ := strings.Cut(s, "=")
		m[k] = v
	}
	return m
}

// FilterArgs reads --filter KEY=VALUE flags.
func FilterArgs(list []string) filters.Args {
	f := filters.NewArgs()
	for _, s := range list {
		k, v, _ := strings.Cut(s, "=")
		f.Add(k, v)
	}
	return f
}
