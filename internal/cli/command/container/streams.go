package container

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/moby/term"

	"github.com/berthproject/berth/internal/cli"
)

// stream pumps a hijacked connection: stdin (if given) in, output out.
// With a TTY the local terminal is put in raw mode and output is raw;
// without, output is demultiplexed into stdout and stderr. It returns when
// the output ends.
func stream(c *cli.CLI, resp types.HijackedResponse, tty, stdin bool) error {
	defer resp.Close()
	if tty && stdin {
		if fd, isTerm := term.GetFdInfo(c.In); isTerm {
			if state, err := term.SetRawTerminal(fd); err == nil {
				defer term.RestoreTerminal(fd, state)
			}
		}
	}
	if stdin {
		go func() {
			io.Copy(resp.Conn, c.In)
			resp.CloseWrite()
		}()
	}
	var err error
	if tty {
		_, err = io.Copy(c.Out, resp.Reader)
	} else {
		_, err = stdcopy.StdCopy(c.Out, c.Err, resp.Reader)
	}
	return err
}

// terminalSize returns the local terminal's size (0, 0 if none).
func terminalSize(c *cli.CLI) (uint, uint) {
	if fd, isTerm := term.GetFdInfo(c.Out); isTerm {
		if ws, err := term.GetWinsize(fd); err == nil {
			return uint(ws.Height), uint(ws.Width)
		}
	}
	return 0, 0
}

// watchResize forwards terminal size changes until ctx ends.
func watchResize(ctx context.Context, c *cli.CLI, resize func(h, w uint)) {
	h, w := terminalSize(c)
	if h == 0 {
		return
	}
	resize(h, w)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGWINCH)
	go func() {
		defer signal.Stop(ch)
		for {
			select {
			case <-ctx.Done():
				return
			case <-ch:
				if h, w := terminalSize(c); h > 0 {
					resize(h, w)
				}
			}
		}
	}()
}
