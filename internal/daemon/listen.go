package daemon

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/docker/go-connections/tlsconfig"

	"github.com/berthproject/berth/internal/api"
)

// endpoint is one -H the daemon serves: a unix socket, or a TCP address
// with its TLS configuration (nil: plain, only on loopback unless the
// admin insists).
type endpoint struct {
	proto, addr string
	tls         *tls.Config
}

// planEndpoints checks every host before anything starts, as Docker reads
// them: unix://PATH and tcp://ADDR[:PORT]. TCP is mutual TLS with
// --tlsverify (clients need a certificate the CA signed), TLS with --tls;
// plain TCP gives anyone who reaches it root on this host, so it is
// refused unless on loopback or --insecure-tcp is given.
func planEndpoints(cfg Config) ([]endpoint, error) {
	var out []endpoint
	for _, h := range cfg.Hosts {
		proto, addr, ok := strings.Cut(h, "://")
		if !ok {
			return nil, fmt.Errorf("invalid host %q: want unix://PATH or tcp://ADDR[:PORT]", h)
		}
		switch proto {
		case "unix":
			if addr == "" {
				return nil, fmt.Errorf("invalid host %q: no socket path", h)
			}
			out = append(out, endpoint{proto: proto, addr: addr})
		case "tcp":
			ep, err := tcpEndpoint(cfg, h, addr)
			if err != nil {
				return nil, err
			}
			out = append(out, ep)
		default:
			return nil, fmt.Errorf("unsupported host %q: only unix:// and tcp:// are", h)
		}
	}
	return out, nil
}

func tcpEndpoint(cfg Config, h, addr string) (endpoint, error) {
	useTLS := cfg.TLS || cfg.TLSVerify
	host, port, err := net.SplitHostPort(addr)
	if err != nil { // no port: Docker's defaults
		host, port = addr, "2375"
		if useTLS {
			port = "2376"
		}
	}
	ep := endpoint{proto: "tcp", addr: net.JoinHostPort(host, port)}
	if !useTLS {
		if !isLoopback(host) && !cfg.InsecureTCP {
			return ep, fmt.Errorf("refusing to listen on %s without TLS: anyone who reaches it is root on this host; "+
				"give --tlsverify --tlscacert --tlscert --tlskey (mutual TLS), or --insecure-tcp to do it anyway", h)
		}
		return ep, nil
	}
	if cfg.TLSCert == "" || cfg.TLSKey == "" {
		return ep, fmt.Errorf("%s: TLS needs --tlscert and --tlskey", h)
	}
	opts := tlsconfig.Options{CertFile: cfg.TLSCert, KeyFile: cfg.TLSKey, ClientAuth: tls.NoClientCert}
	if cfg.TLSVerify {
		if cfg.TLSCACert == "" {
			return ep, fmt.Errorf("%s: --tlsverify needs --tlscacert, the CA that signs the clients' certificates", h)
		}
		opts.CAFile, opts.ClientAuth = cfg.TLSCACert, tls.RequireAndVerifyClientCert
	}
	if ep.tls, err = tlsconfig.Server(opts); err != nil {
		return ep, fmt.Errorf("%s: %w", h, err)
	}
	return ep, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// listen opens the endpoint; cleanup removes what it made (a socket file).
func (ep endpoint) listen() (ln net.Listener, cleanup func(), err error) {
	switch ep.proto {
	case "unix":
		ln, err = api.ListenUnix(ep.addr)
		return ln, func() { os.Remove(ep.addr) }, err
	case "tcp":
		ln, err = net.Listen("tcp", ep.addr)
		if err != nil {
			return nil, nil, err
		}
		if ep.tls != nil {
			ln = tls.NewListener(ln, ep.tls)
		}
		return ln, func() {}, nil
	}
	return nil, nil, errors.New("unknown protocol " + ep.proto)
}
