// SPDX-License-Identifier: Apache-2.0

// Command tokenserver is a minimal Docker registry bearer-token server
// ("auth: token:" in distribution 2.8) for the integration test harness.
// Known users get every action they ask for; anonymous clients may only
// pull repositories outside the private prefix. It listens on loopback only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

type config struct {
	addr          string
	keyPath       string
	certPath      string
	usersPath     string
	issuer        string
	service       string
	privatePrefix string
	pidfile       string
	ttl           time.Duration
}

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		logger.Error("bad arguments", "err", err)
		os.Exit(2)
	}
	if err := run(cfg, logger); err != nil {
		logger.Error("tokenserver failed", "err", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("tokenserver", flag.ContinueOnError)
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:5004", "listen address (loopback only)")
	fs.StringVar(&cfg.keyPath, "key", "", "RSA private key PEM (PKCS#1 or PKCS#8)")
	fs.StringVar(&cfg.certPath, "cert", "", "certificate PEM matching -key (registry rootcertbundle)")
	fs.StringVar(&cfg.usersPath, "users", "", "file of name:password lines")
	fs.StringVar(&cfg.issuer, "issuer", "gpyxis-token-issuer", "token issuer (iss)")
	fs.StringVar(&cfg.service, "service", "gpyxis-registry", "registry service name (aud)")
	fs.StringVar(&cfg.privatePrefix, "private-prefix", "private/", "repositories not pullable anonymously")
	fs.StringVar(&cfg.pidfile, "pidfile", "", "write own pid here once listening")
	fs.DurationVar(&cfg.ttl, "ttl", 5*time.Minute, "token lifetime")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	switch {
	case fs.NArg() > 0:
		return cfg, fmt.Errorf("unexpected arguments: %v", fs.Args())
	case cfg.keyPath == "" || cfg.certPath == "":
		return cfg, errors.New("-key and -cert are required")
	case cfg.ttl < time.Second:
		return cfg, fmt.Errorf("-ttl %s: must be at least 1s", cfg.ttl)
	}
	if err := validateAddr(cfg.addr); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// validateAddr refuses listen addresses whose host is not loopback.
func validateAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("addr %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("addr %q: host must be a loopback address", addr)
}

func run(cfg config, logger *slog.Logger) error {
	srv, err := newServer(cfg, logger)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if cfg.pidfile != "" {
		if err := writePidfile(cfg.pidfile); err != nil {
			ln.Close()
			return err
		}
		defer os.Remove(cfg.pidfile)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return serve(ctx, ln, srv.routes(), logger)
}

func newServer(cfg config, logger *slog.Logger) (*server, error) {
	sg, err := loadSigner(cfg.keyPath, cfg.certPath)
	if err != nil {
		return nil, err
	}
	users := map[string]string{}
	if cfg.usersPath != "" {
		if users, err = loadUsers(cfg.usersPath); err != nil {
			return nil, err
		}
	}
	return &server{
		issuer:        cfg.issuer,
		service:       cfg.service,
		privatePrefix: cfg.privatePrefix,
		ttl:           cfg.ttl,
		users:         users,
		signer:        sg,
		now:           time.Now,
		log:           logger,
	}, nil
}

// serve runs the HTTP server until ctx is cancelled, then shuts it down.
func serve(ctx context.Context, ln net.Listener, h http.Handler, logger *slog.Logger) error {
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	logger.Info("listening", "addr", ln.Addr().String(), "pid", os.Getpid())
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// writePidfile writes the pid atomically so readers never see a partial file.
func writePidfile(path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tokenserver-pid-*")
	if err != nil {
		return fmt.Errorf("pidfile: %w", err)
	}
	_, werr := tmp.WriteString(strconv.Itoa(os.Getpid()) + "\n")
	merr := tmp.Chmod(0o644)
	cerr := tmp.Close()
	if err := errors.Join(werr, merr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("pidfile: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("pidfile: %w", err)
	}
	return nil
}
