// Command console is the server of Monoreel's web console: browsers call the
// platform's services through it, with the Connect protocol or gRPC-Web, and
// it serves the console's pages.
//
//	console                                    # the services on their default local ports
//	console -danmaku_addr=danmaku:9200 -upload_addr=upload:9300 ...
//	console -registry=etcd:2379 -danmaku_addr=etcd:///danmaku ...
//
// On -web_listen (plain HTTP on loopback, HTTPS elsewhere: -web_tls_cert and
// -web_tls_key) it serves, over HTTP/1.1 and HTTP/2:
//
//   - /<package>.<Service>/<Method>: every API of the services it is given
//     (-<service>_addr; empty: not served), for Connect, gRPC-Web and gRPC
//     clients alike. connectrpc.com/vanguard translates each call to gRPC for
//     an in-process gRPC server whose one generic handler (internal/forward)
//     forwards it to its service over mutual TLS, with the caller's token: the
//     service sees the user (through the console), and checks them as ever.
//     Bidirectional streams (danmaku's Chat) need HTTP/2: browsers use Post and
//     Subscribe. The console's own API, monoreel.console.v1.ConsoleService
//     (Status: each service's health, version and address), is there too, and
//     on its gRPC listener (-listen) with every service's frame.
//   - /api/signin: development sign-in (internal/signin): POST {"user": NAME}
//     and get a short-lived token signed with -signin_key, with the tier the
//     console's -signin_tiers gives NAME (normal by default) and the operator
//     role for -signin_admins, at most -signin_rate a second from one client
//     address after a burst of -signin_burst (429 and Retry-After past it).
//     Production puts a real identity provider here.
//   - everything else: the web bundle embedded in the binary (web/).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"time"

	"connectrpc.com/vanguard"
	"connectrpc.com/vanguard/vanguardgrpc"
	"google.golang.org/grpc"

	"github.com/monoreel/monoreel/libs/auth"
	"github.com/monoreel/monoreel/libs/coloring"
	"github.com/monoreel/monoreel/libs/mtls"
	"github.com/monoreel/monoreel/libs/pki"
	"github.com/monoreel/monoreel/libs/ratelimit"
	"github.com/monoreel/monoreel/libs/service"
	"github.com/monoreel/monoreel/libs/tracing"
	consolev1 "github.com/monoreel/monoreel/proto/console/v1"
	"github.com/monoreel/monoreel/services/console/internal/backend"
	"github.com/monoreel/monoreel/services/console/internal/forward"
	"github.com/monoreel/monoreel/services/console/internal/signin"
	"github.com/monoreel/monoreel/services/console/web"
)

// version is set at link time by the release build (x_defs in BUILD.bazel).
var version = "dev"

func main() { service.Main("console", run) }

// maxMessage is the largest message a browser may send or get through the
// console: upload's UploadPart (a 4 MiB part) and its header.
const maxMessage = 4<<20 + 64<<10

// run serves until ctx ends or a SIGTERM/SIGINT arrives. ready, if set, is called
// with the gRPC address once the server accepts calls.
func run(ctx context.Context, args []string, stdout io.Writer, ready func(net.Addr)) error {
	flags := flag.NewFlagSet("console", flag.ContinueOnError)
	common := service.AddFlags(flags, 9800)
	webListen := flags.String("web_listen", "127.0.0.1:9880", "where browsers reach the console (host:port): pages, sign-in, Connect, gRPC-Web and gRPC; plain HTTP only on loopback, HTTPS with -web_tls_cert and -web_tls_key")
	webCert := flags.String("web_tls_cert", "", "the web listener's certificate (PEM) for HTTPS")
	webKey := flags.String("web_tls_key", "", "the web listener's key (PEM) for HTTPS")
	addrs := backend.AddFlags(flags)
	signinKey := flags.String("signin_key", "", "the token signing key (PEM: Ed25519 or ECDSA P-256) development sign-in signs with; empty: the development PKI's when the console uses it, else no sign-in")
	signinTTL := flags.Duration("signin_ttl", 30*time.Minute, "how long a sign-in's token is valid")
	tierFlag := flags.String("signin_tiers", "", "users' tiers at sign-in, user=tier,... (normal, vip, robot); anyone else is normal")
	adminFlag := flags.String("signin_admins", "", "users given the operator role at sign-in, user,...")
	signinRate := flags.Float64("signin_rate", 1, "sign-ins a second allowed from one client address, after -signin_burst")
	signinBurst := flags.Int("signin_burst", 10, "sign-ins one client address may make at once")
	mediaOrigin := flags.String("media_origin", "", "the edge (or origin) the published outputs are served from (http://host:port): the pages play them at /media/<key>, the same origin as the console; empty: no /media/")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if common.ShowVersion(stdout, "console", version) {
		return nil
	}
	tiers, err := signin.ParseTiers(*tierFlag)
	if err != nil {
		return fmt.Errorf("-signin_tiers: %w", err)
	}
	admins, err := signin.ParseAdmins(*adminFlag)
	if err != nil {
		return fmt.Errorf("-signin_admins: %w", err)
	}
	if *signinRate <= 0 || *signinBurst < 1 {
		return fmt.Errorf("-signin_rate=%v -signin_burst=%d: want a rate above 0 and a burst of at least 1", *signinRate, *signinBurst)
	}
	if (*webCert == "") != (*webKey == "") {
		return errors.New("-web_tls_cert and -web_tls_key go together")
	}
	if *webCert == "" && !mtls.IsLoopback(*webListen) {
		return fmt.Errorf("-web_listen=%s is not loopback: tokens would cross the network in the clear; give -web_tls_cert and -web_tls_key", *webListen)
	}

	svc, err := service.New("console", common, stdout)
	if err != nil {
		return err
	}
	backends, err := addrs.Dial(svc.Dial)
	if err != nil {
		return err
	}
	defer backend.Close(backends)
	status := &backend.Status{Backends: backends, Version: version}
	consolev1.RegisterConsoleServiceServer(svc.Server, status)

	// The gRPC server behind the translation: every backend's APIs forwarded,
	// the console's own served here. It is reached only through the web
	// handler (ServeHTTP), never on a listener of its own.
	unary := []grpc.UnaryServerInterceptor{coloring.UnaryServerInterceptor()}
	if svc.Authorizer != nil {
		// The console's own API is checked here as on its gRPC listener; the
		// forwarded calls are checked by the services they reach.
		unary = append(unary, svc.Authorizer.UnaryServerInterceptor())
	}
	inner := grpc.NewServer(
		grpc.ForceServerCodecV2(forward.Codec{}),
		grpc.MaxRecvMsgSize(maxMessage),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(coloring.StreamServerInterceptor()),
		tracing.ServerOption(),
	)
	defer inner.Stop()
	for _, b := range backends {
		for _, api := range b.APIs {
			forward.Register(inner, api, b.Conn)
		}
	}
	consolev1.RegisterConsoleServiceServer(inner, status)
	transcoder, err := vanguardgrpc.NewTranscoder(inner,
		vanguard.WithUnknownHandler(http.FileServerFS(web.Bundle())),
		vanguard.WithDefaultServiceOptions(vanguard.WithMaxMessageBufferBytes(maxMessage)))
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/", transcoder)
	signinMode := "off (no -signin_key)"
	if key := signinKeyFile(*signinKey, svc.Transport); key != "" {
		h, err := signinHandler(key, common.Token, signin.Users{Tiers: tiers, Admins: admins}, *signinTTL, svc)
		if err != nil {
			return err
		}
		// 10,000 addresses draining at once is far past a development
		// console's users; past it, new addresses share one bucket.
		h.Limit = ratelimit.NewKeyed(*signinRate, *signinBurst, 10_000, nil)
		mux.Handle("/api/signin", h)
		signinMode = "with " + key
	} else {
		mux.Handle("/api/signin", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "sign-in is off: the console was given no -signin_key (production signs in with the identity provider)", http.StatusNotImplemented)
		}))
	}

	if *mediaOrigin != "" {
		origin, err := url.Parse(*mediaOrigin)
		if err != nil || origin.Scheme == "" || origin.Host == "" {
			return fmt.Errorf("-media_origin=%q: want http(s)://host:port", *mediaOrigin)
		}
		// Same origin as the pages, so hls.js needs no CORS from the edge.
		mux.Handle("/media/", http.StripPrefix("/media", httputil.NewSingleHostReverseProxy(origin)))
	}

	lis, err := net.Listen("tcp", *webListen)
	if err != nil {
		return fmt.Errorf("-web_listen: %w", err)
	}
	site := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, Protocols: new(http.Protocols)}
	site.Protocols.SetHTTP1(true)
	scheme := "https"
	if *webCert == "" {
		scheme = "http"
		site.Protocols.SetUnencryptedHTTP2(true) // gRPC clients, and bidirectional streams
	} else {
		site.Protocols.SetHTTP2(true)
	}
	siteURL := fmt.Sprintf("%s://%s/", scheme, lis.Addr())
	served := make(chan error, 1)
	go func() {
		if *webCert == "" {
			served <- site.Serve(lis)
		} else {
			served <- site.ServeTLS(lis, *webCert, *webKey)
		}
	}()
	for _, b := range backends {
		svc.Log.Info("forwarding", "service", b.Name, "addr", b.Addr)
	}
	svc.Log.Info("console on the web", "url", siteURL, "signin", signinMode)
	fmt.Fprintf(stdout, "console: %s\n", siteURL)

	err = svc.Run(ctx, ready)
	stop, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if serr := site.Shutdown(stop); serr != nil {
		site.Close() // streams still open: they end now
	}
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = fmt.Errorf("web listener: %w", serr)
	}
	return err
}

// signinKeyFile is -signin_key, or the development PKI's token key when the
// console uses that PKI.
func signinKeyFile(flagValue string, transport *mtls.Transport) string {
	if flagValue != "" {
		return flagValue
	}
	if transport.DevPKI != "" {
		return transport.DevPKI.TokenKeyFile()
	}
	return ""
}

// signinHandler signs with the key in keyFile, as the issuer and for the
// audience the services verify (-token_issuer, -token_audience).
func signinHandler(keyFile string, tokens *auth.Flags, users signin.Users, ttl time.Duration, svc *service.Service) (*signin.Handler, error) {
	data, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("-signin_key: %w", err)
	}
	key, err := pki.DecodeKey(data)
	if err != nil {
		return nil, fmt.Errorf("-signin_key %s: %w", keyFile, err)
	}
	return &signin.Handler{Issuer: auth.Issuer{Key: key, Issuer: tokens.Issuer, Audience: tokens.Audience}, Users: users, TTL: ttl, Log: svc.Log}, nil
}
