// Command grpcfloor is the least a submitting client on gpuqctl's stack
// does: it parses submit's flags with urfave/cli/v2, names the current
// user, and sends one SubmitJob through grpc-go and protobuf-go over the
// unix socket. No config, no directives, no credentials, no retries.
// BenchmarkCtlSubmit measures it beside gpuqctl submit: the difference is
// what gpuqctl itself adds.
package main

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

func main() {
	app := &cli.App{Name: "grpcfloor", Commands: []*cli.Command{{
		Name: "submit",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "server"}, &cli.StringFlag{Name: "team"},
			&cli.StringFlag{Name: "gpus"}, &cli.StringFlag{Name: "wrap"},
		},
		Action: submit,
	}}}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "grpcfloor:", err)
		os.Exit(1)
	}
}

func submit(c *cli.Context) error {
	u, err := user.Current()
	if err != nil {
		return err
	}
	typ, n, _ := strings.Cut(c.String("gpus"), ":")
	count, err := strconv.Atoi(n)
	if err != nil {
		return err
	}
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(c.String("server"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	res, err := gpuqv1.NewQueueServiceClient(conn).SubmitJob(context.Background(), &gpuqv1.SubmitJobRequest{Spec: &gpuqv1.JobSpec{
		Team: c.String("team"), User: u.Username, Chdir: wd, Name: "wrap",
		Gpus:   &gpuqv1.GPURequest{Type: typ, Count: uint32(count)},
		Script: []byte("#!/bin/sh\n" + c.String("wrap") + "\n"),
	}})
	if err != nil {
		return err
	}
	fmt.Printf("Submitted job %d\n", res.GetJobId())
	return nil
}
