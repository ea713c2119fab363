package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestStreamAliases(t *testing.T) {
	src := `package v1

import "google.golang.org/grpc"

type ChatServiceClient interface{}

type ChatService_ChatClient = grpc.BidiStreamingClient[ChatRequest, ChatResponse]
type ChatService_WatchServer = grpc.ServerStreamingServer[Event]
type notAStream = map[string]int
type Other = other.Generic[int]
`
	file := filepath.Join(t.TempDir(), "chat_grpc.pb.go")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := streamAliases(file)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"ChatService_ChatClient", "ChatService_WatchServer"}; !slices.Equal(got, want) {
		t.Errorf("streamAliases = %q, want %q", got, want)
	}
}
