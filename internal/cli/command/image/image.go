package image

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	units "github.com/docker/go-units"
	"github.com/moby/term"
	"github.com/spf13/cobra"

	"github.com/berthproject/berth/internal/cli"
	registrycmd "github.com/berthproject/berth/internal/cli/command/registry"
)

type imageRow struct {
	s         image.Summary
	repo, tag string
	trunc     bool
}

func (r imageRow) ID() string {
	if r.trunc {
		return cli.TruncateID(r.s.ID)
	}
	return r.s.ID
}
func (r imageRow) Repository() string { return r.repo }
func (r imageRow) Tag() string        { return r.tag }
func (r imageRow) Digest() string     { return "<none>" }
func (r imageRow) CreatedSince() string {
	return units.HumanDuration(time.Since(time.Unix(r.s.Created, 0))) + " ago"
}
func (r imageRow) CreatedAt() string  { return time.Unix(r.s.Created, 0).String() }
func (r imageRow) Size() string       { return units.HumanSizeWithPrecision(float64(r.s.Size), 3) }
func (r imageRow) Containers() string { return "N/A" }
func (r imageRow) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"ID": r.ID(), "Repository": r.repo, "Tag": r.tag, "Digest": r.Digest(),
		"CreatedSince": r.CreatedSince(), "CreatedAt": r.CreatedAt(), "Size": r.Size(), "Containers": r.Containers()})
}

var imageHeader = map[string]string{"ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
	"CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE", "Containers": "CONTAINERS"}

func newImagesCommand(c *cli.CLI) *cobra.Command {
	var all, quiet, noTrunc bool
	var format string
	var filterArgs []string
	cmd := &cobra.Command{
		Use:   "images [OPTIONS] [REPOSITORY[:TAG]]",
		Short: "List images",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			f := filters.NewArgs()
			for _, fa := range filterArgs {
				k, v, ok := strings.Cut(fa, "=")
				if !ok {
					return cli.StatusError{Status: "bad format of filter (expected name=value)", Code: 125}
				}
				f.Add(strings.ToLower(k), v)
			}
			if len(args) == 1 {
				f.Add("reference", args[0])
			}
			list, err := cl.ImageList(cmd.Context(), image.ListOptions{All: all, Filters: f})
			if err != nil {
				return err
			}
			if quiet {
				format = "{{.ID}}"
			}
			if format == "" {
				format = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
			}
			out, err := cli.NewFormat(c.Out, format, imageHeader)
			if err != nil {
				return err
			}
			seen := map[string]bool{}
			for _, s := range list {
				rows := []imageRow{}
				for _, t := range s.RepoTags {
					i := strings.LastIndex(t, ":")
					rows = append(rows, imageRow{s: s, repo: t[:i], tag: t[i+1:], trunc: !noTrunc})
				}
				if len(rows) == 0 {
					rows = append(rows, imageRow{s: s, repo: "<none>", tag: "<none>", trunc: !noTrunc})
				}
				for _, r := range rows {
					if quiet {
						if seen[r.ID()] {
							continue
						}
						seen[r.ID()] = true
					}
					if err := out.Row(r); err != nil {
						return err
					}
				}
			}
			return out.Flush()
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&all, "all", "a", false, "Show all images (default hides intermediate images)")
	fs.BoolVarP(&quiet, "quiet", "q", false, "Only show image IDs")
	fs.BoolVar(&noTrunc, "no-trunc", false, "Don't truncate output")
	fs.StringVar(&format, "format", "", "Format output using a custom template")
	fs.StringArrayVarP(&filterArgs, "filter", "f", nil, "Filter output based on conditions provided")
	return cmd
}

func openInput(c *cli.CLI, path string) (io.ReadCloser, error) {
	if path == "-" || path == "" {
		if path == "" {
			if _, isTerm := term.GetFdInfo(c.In); isTerm {
				return nil, cli.StatusError{Status: "requested load from stdin, but stdin is empty", Code: 1}
			}
		}
		return io.NopCloser(c.In), nil
	}
	return os.Open(path)
}

func newImportCommand(c *cli.CLI) *cobra.Command {
	var changes []string
	var message string
	cmd := &cobra.Command{
		Use:   "import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
		Short: "Import the contents from a tarball to create a filesystem image",
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			in, err := openInput(c, args[0])
			if err != nil {
				return err
			}
			defer in.Close()
			ref := ""
			if len(args) > 1 {
				ref = args[1]
			}
			rc, err := cl.ImageImport(cmd.Context(), image.ImportSource{Source: in, SourceName: "-"}, ref, image.ImportOptions{Changes: changes, Message: message})
			if err != nil {
				return err
			}
			defer rc.Close()
			var m struct{ Status, Error string }
			if err := json.NewDecoder(rc).Decode(&m); err != nil {
				return err
			}
			if m.Error != "" {
				return fmt.Errorf("%s", m.Error)
			}
			fmt.Fprintln(c.Out, m.Status)
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&changes, "change", "c", nil, "Apply Dockerfile instruction to the created image")
	cmd.Flags().StringVarP(&message, "message", "m", "", "Set commit message for imported image")
	return cmd
}

func newLoadCommand(c *cli.CLI) *cobra.Command {
	var input string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "load [OPTIONS]",
		Short: "Load an image from a tar archive or STDIN",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			in, err := openInput(c, input)
			if err != nil {
				return err
			}
			defer in.Close()
			resp, err := cl.ImageLoad(cmd.Context(), in)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			return cli.PrintJSONMessages(resp.Body, c.Out)
		},
	}
	cmd.Flags().StringVarP(&input, "input", "i", "", "Read from tar archive file, instead of STDIN")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Suppress the load output")
	return cmd
}

func newSaveCommand(c *cli.CLI) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "save [OPTIONS] IMAGE [IMAGE...]",
		Short: "Save one or more images to a tar archive (streamed to STDOUT by default)",
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var out io.Writer = c.Out
			if output == "" {
				if _, isTerm := term.GetFdInfo(c.Out); isTerm {
					return cli.StatusError{Status: "cowardly refusing to save to a terminal. Use the -o flag or redirect", Code: 1}
				}
			}
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			rc, err := cl.ImageSave(cmd.Context(), args)
			if err != nil {
				return err
			}
			defer rc.Close()
			if output != "" {
				tmp := output + ".berth-tmp"
				f, err := os.Create(tmp)
				if err != nil {
					return err
				}
				if _, err := io.Copy(f, rc); err != nil {
					f.Close()
					os.Remove(tmp)
					return err
				}
				if err := f.Close(); err != nil {
					return err
				}
				return os.Rename(tmp, output)
			}
			_, err = io.Copy(out, rc)
			return err
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "Write to a file, instead of STDOUT")
	return cmd
}

func newTagCommand(c *cli.CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
		Short: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
		Args:  cli.RequiresExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			return cl.ImageTag(cmd.Context(), args[0], args[1])
		},
	}
}

func newRmiCommand(c *cli.CLI) *cobra.Command {
	var force, noPrune bool
	cmd := &cobra.Command{
		Use:   "rmi [OPTIONS] IMAGE [IMAGE...]",
		Short: "Remove one or more images",
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			failed := false
			for _, a := range args {
				items, err := cl.ImageRemove(cmd.Context(), a, image.RemoveOptions{Force: force, PruneChildren: !noPrune})
				if err != nil {
					fmt.Fprintln(c.Err, err)
					failed = true
					continue
				}
				for _, it := range items {
					if it.Untagged != "" {
						fmt.Fprintln(c.Out, "Untagged:", it.Untagged)
					}
					if it.Deleted != "" {
						fmt.Fprintln(c.Out, "Deleted:", it.Deleted)
					}
				}
			}
			if failed {
				return cli.StatusError{Code: 1}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force removal of the image")
	cmd.Flags().BoolVar(&noPrune, "no-prune", false, "Do not delete untagged parents")
	return cmd
}

func newHistoryCommand(c *cli.CLI) *cobra.Command {
	var noTrunc, quiet bool
	cmd := &cobra.Command{
		Use:   "history [OPTIONS] IMAGE",
		Short: "Show the history of an image",
		Args:  cli.RequiresExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			hist, err := cl.ImageHistory(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			w := cli.NewTable(c.Out)
			if !quiet {
				fmt.Fprintln(w, "IMAGE\tCREATED\tCREATED BY\tSIZE\tCOMMENT")
			}
			for _, h := range hist {
				id := h.ID
				if !noTrunc && id != "<missing>" {
					id = cli.TruncateID(id)
				}
				if quiet {
					fmt.Fprintln(w, id)
					continue
				}
				by := h.CreatedBy
				if !noTrunc && len(by) > 45 {
					by = by[:44] + "…"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", id, units.HumanDuration(time.Since(time.Unix(h.Created, 0)))+" ago", by,
					units.HumanSizeWithPrecision(float64(h.Size), 3), h.Comment)
			}
			return w.Flush()
		},
	}
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "Don't truncate output")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only show image IDs")
	return cmd
}

func newPullCommand(c *cli.CLI) *cobra.Command {
	var platform string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "pull [OPTIONS] NAME[:TAG|@DIGEST]",
		Short: "Download an image from a registry",
		Args:  cli.RequiresExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withRegistry(c, cmd, args[0], quiet, func(cl *client.Client, auth string) (io.ReadCloser, error) {
				return cl.ImagePull(cmd.Context(), args[0], image.PullOptions{RegistryAuth: auth, Platform: platform})
			})
		},
	}
	cmd.Flags().StringVar(&platform, "platform", "", "Pull the image for this platform (os[/arch[/variant]])")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Suppress verbose output")
	return cmd
}

func newPushCommand(c *cli.CLI) *cobra.Command {
	var all, quiet bool
	cmd := &cobra.Command{
		Use:   "push [OPTIONS] NAME[:TAG]",
		Short: "Upload an image to a registry",
		Args:  cli.RequiresExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withRegistry(c, cmd, args[0], quiet, func(cl *client.Client, auth string) (io.ReadCloser, error) {
				return cl.ImagePush(cmd.Context(), args[0], image.PushOptions{RegistryAuth: auth, All: all})
			})
		},
	}
	cmd.Flags().BoolVarP(&all, "all-tags", "a", false, "Push all tags of the repository")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Suppress verbose output")
	return cmd
}

// withRegistry runs a registry call (pull, push) for ref with the stored
// credentials of ref's registry and shows its progress stream.
func withRegistry(c *cli.CLI, cmd *cobra.Command, ref string, quiet bool, call func(cl *client.Client, auth string) (io.ReadCloser, error)) error {
	cl, err := c.Client(cmd.Context())
	if err != nil {
		return err
	}
	auth, err := registrycmd.EncodedAuth(ref)
	if err != nil {
		return err
	}
	rc, err := call(cl, auth)
	if err != nil {
		return err
	}
	defer rc.Close()
	out := c.Out
	if quiet {
		out = io.Discard
	}
	return cli.PrintJSONMessages(rc, out)
}

func newPruneCommand(c *cli.CLI) *cobra.Command {
	var all, force bool
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused images",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			f := filters.NewArgs()
			if all {
				f.Add("dangling", "false")
			}
			rep, err := cl.ImagesPrune(cmd.Context(), f)
			if err != nil {
				return err
			}
			if len(rep.ImagesDeleted) > 0 {
				fmt.Fprintln(c.Out, "Deleted Images:")
				for _, it := range rep.ImagesDeleted {
					if it.Untagged != "" {
						fmt.Fprintln(c.Out, "untagged:", it.Untagged)
					}
					if it.Deleted != "" {
						fmt.Fprintln(c.Out, "deleted:", it.Deleted)
					}
				}
				fmt.Fprintln(c.Out)
			}
			fmt.Fprintln(c.Out, "Total reclaimed space:", units.HumanSize(float64(rep.SpaceReclaimed)))
			return nil
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Remove all unused images, not just dangling ones")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	return cmd
}

func newInspectCommand(c *cli.CLI) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] IMAGE [IMAGE...]",
		Short: "Display detailed information on one or more images",
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			return cli.Inspect(c, args, format, func(ref string) (any, []byte, error) {
				return cl.ImageInspectWithRaw(cmd.Context(), ref)
			})
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template")
	return cmd
}

// Commands returns the top-level image commands and the `image` group.
func Commands(c *cli.CLI) []*cobra.Command {
	group := &cobra.Command{Use: "image", Short: "Manage images"}
	ls := newImagesCommand(c)
	ls.Use, ls.Aliases = "ls [OPTIONS] [REPOSITORY[:TAG]]", []string{"list"}
	rm := newRmiCommand(c)
	rm.Use = "rm [OPTIONS] IMAGE [IMAGE...]"
	group.AddCommand(ls, newImportCommand(c), newLoadCommand(c), newSaveCommand(c), newTagCommand(c), rm,
		newHistoryCommand(c), newPullCommand(c), newPushCommand(c), newPruneCommand(c), newInspectCommand(c))
	return []*cobra.Command{group, newImagesCommand(c), newImportCommand(c), newLoadCommand(c), newSaveCommand(c),
		newTagCommand(c), newRmiCommand(c), newHistoryCommand(c), newPullCommand(c), newPushCommand(c)}
}
