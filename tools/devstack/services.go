package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// serviceBinary is one service devstack starts: its name and binary.
type serviceBinary struct{ name, path string }

// serviceFlags are the -service NAME=BINARY flags, in start order. Bazel writes
// them from services/services.bzl, so a service added there is started here
// with its embedded defaults and checked healthy, with no change to devstack.
type serviceFlags []serviceBinary

func (f *serviceFlags) String() string {
	var parts []string
	for _, s := range *f {
		parts = append(parts, s.name+"="+s.path)
	}
	return strings.Join(parts, ",")
}

func (f *serviceFlags) Set(v string) error {
	name, path, ok := strings.Cut(v, "=")
	if !ok || name == "" || path == "" {
		return fmt.Errorf("%q: want NAME=BINARY", v)
	}
	if slices.ContainsFunc(*f, func(s serviceBinary) bool { return s.name == name }) {
		return fmt.Errorf("service %s given twice", name)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	*f = append(*f, serviceBinary{name, abs})
	return nil
}

// scenarioServices are the services the scenario calls (and the ones they call).
var scenarioServices = []string{"config", "idgen", "upload", "transcode", "aitag", "cdnpush", "orchestrator", "danmaku"}

// complete says which service the scenario needs and was not given.
func (f serviceFlags) complete() error {
	for _, name := range scenarioServices {
		if !slices.ContainsFunc(f, func(s serviceBinary) bool { return s.name == name }) {
			return fmt.Errorf("-service %s=BINARY is needed by the scenario (./bazelw run //tools/devstack sets every -service)", name)
		}
	}
	return nil
}

// ruleFlags are the -prometheus_rules flags: rules files, made absolute (bazel
// run gives paths relative to the runfiles, and Prometheus runs elsewhere).
type ruleFlags []string

func (f *ruleFlags) String() string { return strings.Join(*f, ",") }

func (f *ruleFlags) Set(v string) error {
	abs, err := filepath.Abs(v)
	if err != nil {
		return err
	}
	*f = append(*f, abs)
	return nil
}
