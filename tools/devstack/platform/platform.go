// Package platform says how Monoreel's services run together on one machine,
// for the tools that start them all (devstack, the console's browser test):
// which services each one calls, and the flags that keep each one's state under
// one directory.
package platform

import (
	"fmt"
	"path/filepath"
)

// Calls are the services each service calls, given to it as -<callee>_addr:
// they must start before it. A service not listed calls none.
var Calls = map[string][]string{
	"upload":       {"idgen"},
	"orchestrator": {"config", "transcode", "aitag", "cdnpush"},
	"danmaku":      {"config", "idgen"},
	"console":      {"config", "idgen", "upload", "transcode", "aitag", "cdnpush", "orchestrator", "danmaku"},
}

// CallFlags returns the -<callee>_addr flags of service name, each callee's
// address given by addr, or an error naming a callee that has none yet (it
// starts after name).
func CallFlags(name string, addr func(callee string) (string, bool)) ([]string, error) {
	var flags []string
	for _, callee := range Calls[name] {
		a, ok := addr(callee)
		if !ok {
			return nil, fmt.Errorf("%s starts before %s, which it calls: put %s after %s in services/services.bzl", name, callee, name, callee)
		}
		flags = append(flags, "-"+callee+"_addr="+a)
	}
	return flags, nil
}

// Layout is where a platform's services keep their state: all under Dir.
type Layout struct {
	Dir      string
	EdgeURL  string // the caching edge over HLS(), which cdnpush warms
	FFmpeg   string // for transcode and aitag
	Instance string // the orchestrator's -instance: who runs the workflows
}

// HLS is the transcode outputs' directory, which the origin serves.
func (l Layout) HLS() string { return filepath.Join(l.Dir, "hls") }

// Logs is the services' log directory.
func (l Layout) Logs() string { return filepath.Join(l.Dir, "logs") }

// Videos is where upload keeps finished videos, which the orchestrator reads.
func (l Layout) Videos() string { return filepath.Join(l.Dir, "upload", "videos") }

// Flags returns service name's flags beyond the addresses of its calls: its
// state under Dir. A service with none runs on its embedded defaults.
func (l Layout) Flags(name string) []string {
	switch name {
	case "config":
		return []string{"-data_file=" + filepath.Join(l.Dir, "config.snapshot")}
	case "upload":
		return []string{"-data_dir=" + filepath.Join(l.Dir, "upload")}
	case "transcode":
		return []string{"-out_dir=" + l.HLS(), "-jobs_file=" + filepath.Join(l.Dir, "transcode", "jobs.json"), "-segment_seconds=1", "-ffmpeg=" + l.FFmpeg}
	case "aitag":
		return []string{"-ffmpeg=" + l.FFmpeg}
	case "cdnpush":
		return []string{"-edges=" + l.EdgeURL, "-jobs_file=" + filepath.Join(l.Dir, "cdnpush", "jobs.json")}
	case "orchestrator":
		return []string{"-instance=" + l.Instance, "-videos_dir=" + l.Videos()}
	}
	return nil
}

// ConsoleFlags are the console's flags beyond the services' addresses
// (services/console/main.go): browsers reach it on web, it signs people in
// with tokenKey (the platform's token issuer key) giving them the tiers
// ("user=tier,...") and operator role ("user,...") listed, and it serves the
// outputs from the edge under /media/.
func (l Layout) ConsoleFlags(web, tokenKey, tiers, admins string) []string {
	return []string{"-web_listen=" + web, "-signin_key=" + tokenKey, "-signin_tiers=" + tiers, "-signin_admins=" + admins, "-media_origin=" + l.EdgeURL}
}
