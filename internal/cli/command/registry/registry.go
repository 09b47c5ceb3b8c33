package registry

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/distribution/reference"
	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/config/types"
	"github.com/docker/docker/api/types/registry"
	"github.com/moby/term"
	"github.com/spf13/cobra"

	"github.com/berthproject/berth/internal/cli"
)

// hubServer is the key Docker keeps Docker Hub's credentials under.
const hubServer = "https://index.docker.io/v1/"

// serverKey is the config.json key of a registry host.
func serverKey(host string) string {
	h := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(host, "https://"), "http://"), "/")
	if h == "" || h == "docker.io" || h == "index.docker.io" || h == "registry-1.docker.io" || h == "index.docker.io/v1" {
		return hubServer
	}
	return h
}

func loadConfig() (*configfile.ConfigFile, error) {
	return config.Load(config.Dir())
}

// EncodedAuth is the X-Registry-Auth value for the registry of image
// reference ref: the stored credentials, or "" for none.
func EncodedAuth(ref string) (string, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", fmt.Errorf("invalid reference format: %w", err)
	}
	cfg, err := loadConfig()
	if err != nil {
		return "", err
	}
	key := serverKey(reference.Domain(named))
	ac, err := cfg.GetAuthConfig(key)
	if err != nil {
		return "", err
	}
	return registry.EncodeAuthConfig(registry.AuthConfig{Username: ac.Username, Password: ac.Password, Auth: ac.Auth,
		ServerAddress: key, IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken})
}

// Commands returns login and logout.
func Commands(c *cli.CLI) []*cobra.Command {
	return []*cobra.Command{newLoginCommand(c), newLogoutCommand(c)}
}

func newLoginCommand(c *cli.CLI) *cobra.Command {
	var user, pass string
	var passStdin bool
	cmd := &cobra.Command{
		Use:   "login [OPTIONS] [SERVER]",
		Short: "Authenticate to a registry",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server := hubServer
			if len(args) == 1 {
				server = serverKey(args[0])
			}
			if pass != "" && passStdin {
				return cli.StatusError{Status: "--password and --password-stdin are mutually exclusive", Code: 1}
			}
			in := bufio.NewReader(c.In)
			if passStdin {
				if user == "" {
					return cli.StatusError{Status: "Must provide --username with --password-stdin", Code: 1}
				}
				b, err := io.ReadAll(in)
				if err != nil {
					return err
				}
				pass = strings.TrimRight(string(b), "\r\n")
			}
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			if user == "" {
				if stored, err := cfg.GetAuthConfig(server); err == nil && stored.Username != "" && pass == "" {
					user, pass = stored.Username, stored.Password
				}
			}
			if user == "" {
				fmt.Fprint(c.Out, "Username: ")
				line, _ := in.ReadString('\n')
				user = strings.TrimSpace(line)
			}
			if pass == "" {
				fmt.Fprint(c.Out, "Password: ")
				pass = readPassword(in)
				fmt.Fprintln(c.Out)
			}
			if user == "" || pass == "" {
				return cli.StatusError{Status: "Error: Username and password are required", Code: 1}
			}
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			resp, err := cl.RegistryLogin(cmd.Context(), registry.AuthConfig{Username: user, Password: pass, ServerAddress: server})
			if err != nil {
				return err
			}
			ac := types.AuthConfig{Username: user, Password: pass, ServerAddress: server}
			if resp.IdentityToken != "" {
				ac.Password, ac.IdentityToken = "", resp.IdentityToken
			}
			if err := cfg.GetCredentialsStore(server).Store(ac); err != nil {
				return fmt.Errorf("error saving credentials: %w", err)
			}
			fmt.Fprintln(c.Out, "Login Succeeded")
			return nil
		},
	}
	cmd.Flags().StringVarP(&user, "username", "u", "", "Username")
	cmd.Flags().StringVarP(&pass, "password", "p", "", "Password")
	cmd.Flags().BoolVar(&passStdin, "password-stdin", false, "Take the password from stdin")
	return cmd
}

// readPassword reads a line without echo when stdin is a terminal.
func readPassword(in *bufio.Reader) string {
	if fd, isTerm := term.GetFdInfo(os.Stdin); isTerm {
		if st, err := term.SaveState(fd); err == nil {
			_ = term.DisableEcho(fd, st)
			defer term.RestoreTerminal(fd, st)
		}
	}
	line, _ := in.ReadString('\n')
	return strings.TrimRight(line, "\r\n")
}

func newLogoutCommand(c *cli.CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "logout [SERVER]",
		Short: "Log out from a registry",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server := hubServer
			if len(args) == 1 {
				server = serverKey(args[0])
			}
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			if _, ok := cfg.AuthConfigs[server]; !ok && cfg.CredentialsStore == "" && cfg.CredentialHelpers[server] == "" {
				fmt.Fprintf(c.Out, "Not logged in to %s\n", server)
				return nil
			}
			fmt.Fprintf(c.Out, "Removing login credentials for %s\n", server)
			return cfg.GetCredentialsStore(server).Erase(server)
		},
	}
}
