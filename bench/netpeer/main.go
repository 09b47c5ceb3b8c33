package main

import (
	"fmt"
	"io"
	"net"
	"os"
)

func main() {
	sink, err := net.Listen("tcp", ":9000")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hello, err := net.Listen("tcp", ":9001")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go serve(sink, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	serve(hello, func(c net.Conn) { _, _ = c.Write([]byte{'!'}) })
}

func serve(ln net.Listener, f func(net.Conn)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			continue
		}
		go func() {
			defer c.Close()
			f(c)
		}()
	}
}
