package grpchealth_test

import (
	"context"
	"fmt"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/rollsafe/rollsafe/health"
	"github.com/rollsafe/rollsafe/health/grpchealth"
)

func ExampleNew() {
	checker, err := health.New()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer checker.Close()
	if err := checker.Register("db", func(context.Context) error { return nil }); err != nil {
		fmt.Println(err)
		return
	}

	srv, err := grpchealth.New(checker)
	if err != nil {
		fmt.Println(err)
		return
	}
	gs := grpc.NewServer()
	healthpb.RegisterHealthServer(gs, srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	go func() { _ = gs.Serve(lis) }() // returns when Stop is called below
	defer gs.Stop()

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)

	for _, drain := range []bool{false, true} {
		if drain {
			checker.Drain()
		}
		resp, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{Service: ""})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(resp.GetStatus())
	}
	// Output:
	// SERVING
	// NOT_SERVING
}
