//go:build linux

package ipmon

import (
	"fmt"
	"os"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// replyFilter returns the classic BPF program attached to a receive socket:
// it passes only an echo reply (ICMP type 0 or ICMPv6 type 129, code 0)
// that carries id and is exactly echoLen bytes of ICMP, and drops anything
// else in the kernel, before it is queued to the socket: a flood of foreign
// or forged packets then costs no wake-up, no copy and no lock in user
// space. ipHeader is true for a raw IPv4 socket, whose packets start with
// the IP header (its length is read from the IHL field); ICMPv6 raw sockets
// and datagram (ping) sockets see the ICMP message at offset 0.
func replyFilter(v6, ipHeader bool, id uint16) ([]bpf.RawInstruction, error) {
	typ := uint32(icmpv4EchoReply)
	if v6 {
		typ = icmpv6EchoReply
	}
	var prog []bpf.Instruction
	if ipHeader {
		prog = append(prog,
			// X = IP header length.
			bpf.LoadMemShift{Off: 0},
		)
	} else {
		prog = append(prog, bpf.LoadConstant{Dst: bpf.RegX, Val: 0})
	}
	prog = append(prog,
		// Length: the packet is the header plus exactly echoLen bytes.
		bpf.LoadExtension{Num: bpf.ExtLen},
		bpf.ALUOpX{Op: bpf.ALUOpSub},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: echoLen, SkipTrue: 5},
		// Type and code (one half-word: type<<8 | code).
		bpf.LoadIndirect{Off: 0, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: typ << 8, SkipTrue: 3},
		// Identifier.
		bpf.LoadIndirect{Off: 4, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(id), SkipTrue: 1},
		bpf.RetConstant{Val: 0xffff},
		bpf.RetConstant{Val: 0},
	)
	return bpf.Assemble(prog)
}

// attachReplyFilter attaches replyFilter to fd.
func attachReplyFilter(fd int, v6, ipHeader bool, id uint16) error {
	raw, err := replyFilter(v6, ipHeader, id)
	if err != nil {
		return fmt.Errorf("ipmon: assemble reply filter: %w", err)
	}
	ins := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		ins[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(ins)), Filter: &ins[0]}); err != nil {
		return os.NewSyscallError("setsockopt SO_ATTACH_FILTER", err)
	}
	return nil
}
