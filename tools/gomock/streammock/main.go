// Command streammock writes gomock mocks of the stream types of one gRPC API:
// the aliases protoc-gen-go-grpc declares for each streaming method, such as
//
//	type DanmakuService_ChatClient = grpc.BidiStreamingClient[ChatRequest, ChatResponse]
//
// mockgen's source mode mocks only interface declarations and skips these
// aliases without a word, so a test could mock a client but not the stream its
// streaming method returns. This command finds the aliases in the _grpc.pb.go
// file and has mockgen mock them in archive mode, from the package's export data,
// where an alias is the instantiated interface with concrete message types.
//
//	streammock -mockgen=PATH -go=PATH -source=x_grpc.pb.go -archive=x.x -importpath=IMPORTPATH -package=mock -out=streams_mock.go
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

func main() {
	mockgen := flag.String("mockgen", "", "the mockgen binary")
	goTool := flag.String("go", "", "the go binary of the SDK mockgen formats its output with")
	source := flag.String("source", "", "the _grpc.pb.go file declaring the stream aliases")
	archive := flag.String("archive", "", "the export data (.x) of the package compiled from source")
	importpath := flag.String("importpath", "", "the import path of that package")
	pkg := flag.String("package", "", "the package name of the mocks")
	out := flag.String("out", "", "the file to write")
	flag.Parse()
	if err := run(*mockgen, *goTool, *source, *archive, *importpath, *pkg, *out); err != nil {
		fmt.Fprintln(os.Stderr, "streammock:", err)
		os.Exit(1)
	}
}

func run(mockgen, goTool, source, archive, importpath, pkg, out string) error {
	names, err := streamAliases(source)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		// An API without streaming methods: the mock package still lists this file.
		return os.WriteFile(out, []byte("package "+pkg+"\n\n// No streaming methods, no stream mocks.\n"), 0o644)
	}
	scratch, err := os.MkdirTemp("", "streammock")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	env, err := goEnv(goTool, scratch)
	if err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	cmd := exec.Command(mockgen,
		"-archive="+archive,
		"-package="+pkg,
		// The file's comments would name sandbox paths; the other mock file of the
		// package has the package comment.
		"-write_command_comment=false",
		"-write_source_comment=false",
		"-write_package_comment=false",
		importpath, strings.Join(names, ","))
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, os.Stderr
	if err := cmd.Run(); err != nil {
		f.Close()
		return fmt.Errorf("mockgen %s %s: %w", importpath, strings.Join(names, ","), err)
	}
	return f.Close()
}

// goEnv is the environment of mockgen, which runs the go command (through
// golang.org/x/tools/imports) to format its output: goTool's SDK first on PATH,
// GOPATH mode with GOPATH and GOCACHE in scratch, as rules_go's gomock rule does.
func goEnv(goTool, scratch string) ([]string, error) {
	bin, err := filepath.Abs(filepath.Dir(goTool))
	if err != nil {
		return nil, err
	}
	return append(os.Environ(),
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"GOROOT="+filepath.Dir(bin),
		"GOPATH="+filepath.Join(scratch, "gopath"),
		"GOCACHE="+filepath.Join(scratch, "gocache"),
		"GO111MODULE=off",
		// mockgen v0.6.0 cannot model the `any` of ClientStream.RecvMsg when go/types
		// represents it as an alias (the default since Go 1.23):
		//   method "RecvMsg": can't yet turn any (*types.Alias) into a model.Type
		"GODEBUG=gotypesalias=0",
	), nil
}

// streamAliases returns the names of the aliases in file that stand for an
// instantiation of one of grpc's generic stream interfaces.
func streamAliases(file string) ([]string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, decl := range f.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.TYPE {
			continue
		}
		for _, spec := range gen.Specs {
			ts := spec.(*ast.TypeSpec)
			if ts.Assign.IsValid() && isGRPCInstance(ts.Type) {
				names = append(names, ts.Name.Name)
			}
		}
	}
	return names, nil
}

// isGRPCInstance reports whether t is grpc.Name[...].
func isGRPCInstance(t ast.Expr) bool {
	var generic ast.Expr
	switch t := t.(type) {
	case *ast.IndexExpr:
		generic = t.X
	case *ast.IndexListExpr:
		generic = t.X
	default:
		return false
	}
	sel, ok := generic.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	pkg, ok := sel.X.(*ast.Ident)
	return ok && pkg.Name == "grpc"
}
