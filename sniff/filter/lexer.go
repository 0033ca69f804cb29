package filter

import (
	"fmt"
	"net/netip"
	"strings"
)

// tokKind identifies the kind of a lexical token.
type tokKind int

const (
	tEOF tokKind = iota

	// Values.
	tNum  // number (decimal, 0x hex, 0 octal) or named constant such as tcp-syn
	tHID  // dotted IPv4 address with 2 to 4 parts
	tHID6 // IPv6 address
	tEID  // Ethernet (MAC) address
	tAID  // ARCnet address ($xx)
	tID   // identifier: host, port, protocol or service name

	// Logical operators.
	tAnd // and, &&
	tOr  // or, ||
	tNot // not, !

	// Punctuation and arithmetic.
	tLParen
	tRParen
	tLBrack
	tRBrack
	tColon
	tPlus
	tMinus
	tStar
	tSlash
	tPercent
	tAmp
	tPipe
	tCaret
	tLsh
	tRsh
	tEq  // = or ==
	tNeq // !=
	tLt
	tLe
	tGt
	tGe

	// Qualifier keywords.
	tSrc
	tDst
	tHost
	tNet
	tMask
	tPort
	tPortrange
	tProto
	tProtochain
	tGateway

	// Protocol names usable as qualifiers and accessors (pname).
	tLink // link, ether, ppp, slip, fddi, tr, wlan
	tIP
	tIP6
	tARP
	tRARP
	tTCP
	tUDP
	tSCTP
	tICMP
	tICMP6
	tIGMP
	tIGRP
	tPIM
	tVRRP
	tCARP
	tAH
	tESP
	tOtherPname // protocol names tcpdump knows and we do not support (atalk, decnet, ...)

	// Other primitives.
	tLess
	tGreater
	tLen
	tVlan
	tBroadcast
	tMulticast
	tByte
	tUnsupported // keywords of other tcpdump primitives we do not support
)

// token is one lexical token of a filter expression.
type token struct {
	kind tokKind
	pos  int    // byte offset in the expression
	text string // source text (for tID, the name without a leading backslash)
	num  uint32 // value of a tNum
}

// keywords maps tcpdump's reserved words to token kinds. Like libpcap's
// scanner, a word is a keyword only if it is the whole longest match.
var keywords = map[string]tokKind{
	"dst": tDst, "src": tSrc,
	"host": tHost, "net": tNet, "mask": tMask, "port": tPort,
	"portrange": tPortrange, "proto": tProto, "protochain": tProtochain,
	"gateway": tGateway,

	"link": tLink, "ether": tLink, "ppp": tLink, "slip": tLink,
	"fddi": tLink, "tr": tLink, "wlan": tLink,
	"ip": tIP, "ip6": tIP6, "arp": tARP, "rarp": tRARP,
	"tcp": tTCP, "udp": tUDP, "sctp": tSCTP, "icmp": tICMP, "icmp6": tICMP6,
	"igmp": tIGMP, "igrp": tIGRP, "pim": tPIM, "vrrp": tVRRP, "carp": tCARP,
	"ah": tAH, "esp": tESP,

	"radio": tOtherPname, "atalk": tOtherPname, "aarp": tOtherPname,
	"decnet": tOtherPname, "lat": tOtherPname, "sca": tOtherPname,
	"moprc": tOtherPname, "mopdl": tOtherPname, "iso": tOtherPname,
	"esis": tOtherPname, "es-is": tOtherPname, "isis": tOtherPname,
	"is-is": tOtherPname, "l1": tOtherPname, "l2": tOtherPname,
	"iih": tOtherPname, "lsp": tOtherPname, "snp": tOtherPname,
	"csnp": tOtherPname, "psnp": tOtherPname, "clnp": tOtherPname,
	"stp": tOtherPname, "ipx": tOtherPname, "netbeui": tOtherPname,

	"less": tLess, "greater": tGreater, "len": tLen, "length": tLen,
	"vlan": tVlan, "broadcast": tBroadcast, "multicast": tMulticast,
	"byte": tByte,

	"and": tAnd, "or": tOr, "not": tNot,

	"type": tUnsupported, "subtype": tUnsupported, "dir": tUnsupported,
	"direction": tUnsupported, "addr1": tUnsupported, "addr2": tUnsupported,
	"addr3": tUnsupported, "addr4": tUnsupported, "address1": tUnsupported,
	"address2": tUnsupported, "address3": tUnsupported,
	"address4": tUnsupported, "ra": tUnsupported, "ta": tUnsupported,
	"inbound": tUnsupported, "outbound": tUnsupported,
	"ifindex": tUnsupported, "mpls": tUnsupported, "pppoed": tUnsupported,
	"pppoes": tUnsupported, "geneve": tUnsupported, "vxlan": tUnsupported,
	"lane": tUnsupported, "llc": tUnsupported, "metac": tUnsupported,
	"bcc": tUnsupported, "oam": tUnsupported, "oamf4": tUnsupported,
	"oamf4ec": tUnsupported, "oamf4sc": tUnsupported, "sc": tUnsupported,
	"ilmic": tUnsupported, "vpi": tUnsupported, "vci": tUnsupported,
	"connectmsg": tUnsupported, "metaconnect": tUnsupported,
	"on": tUnsupported, "ifname": tUnsupported, "rset": tUnsupported,
	"ruleset": tUnsupported, "rnr": tUnsupported, "rulenum": tUnsupported,
	"srnr": tUnsupported, "subrulenum": tUnsupported,
	"reason": tUnsupported, "action": tUnsupported, "fisu": tUnsupported,
	"lssu": tUnsupported, "lsu": tUnsupported, "msu": tUnsupported,
	"hfisu": tUnsupported, "hlssu": tUnsupported, "hmsu": tUnsupported,
	"sio": tUnsupported, "opc": tUnsupported, "dpc": tUnsupported,
	"sls": tUnsupported, "hsio": tUnsupported, "hopc": tUnsupported,
	"hdpc": tUnsupported, "hsls": tUnsupported,
}

// namedConstants are the words libpcap's scanner turns into numbers.
var namedConstants = map[string]uint32{
	"icmptype": 0, "icmpcode": 1,
	"icmp-echoreply": 0, "icmp-unreach": 3, "icmp-sourcequench": 4,
	"icmp-redirect": 5, "icmp-echo": 8, "icmp-routeradvert": 9,
	"icmp-routersolicit": 10, "icmp-timxceed": 11, "icmp-paramprob": 12,
	"icmp-tstamp": 13, "icmp-tstampreply": 14, "icmp-ireq": 15,
	"icmp-ireqreply": 16, "icmp-maskreq": 17, "icmp-maskreply": 18,

	"icmp6type": 0, "icmp6code": 1,
	"icmp6-destinationunreach": 1, "icmp6-packettoobig": 2,
	"icmp6-timeexceeded": 3, "icmp6-parameterproblem": 4,
	"icmp6-echo": 128, "icmp6-echoreply": 129,
	"icmp6-multicastlistenerquery": 130, "icmp6-multicastlistenerreportv1": 131,
	"icmp6-multicastlistenerdone": 132, "icmp6-routersolicit": 133,
	"icmp6-routeradvert": 134, "icmp6-neighborsolicit": 135,
	"icmp6-neighboradvert": 136, "icmp6-redirect": 137,
	"icmp6-routerrenum": 138, "icmp6-nodeinformationquery": 139,
	"icmp6-nodeinformationresponse":   140,
	"icmp6-ineighbordiscoverysolicit": 141,
	"icmp6-ineighbordiscoveryadvert":  142,
	"icmp6-multicastlistenerreportv2": 143,
	"icmp6-homeagentdiscoveryrequest": 144,
	"icmp6-homeagentdiscoveryreply":   145,
	"icmp6-mobileprefixsolicit":       146, "icmp6-mobileprefixadvert": 147,
	"icmp6-certpathsolicit": 148, "icmp6-certpathadvert": 149,
	"icmp6-multicastrouteradvert": 151, "icmp6-multicastroutersolicit": 152,
	"icmp6-multicastrouterterm": 153,

	"tcpflags": 13,
	"tcp-fin":  0x01, "tcp-syn": 0x02, "tcp-rst": 0x04, "tcp-push": 0x08,
	"tcp-ack": 0x10, "tcp-urg": 0x20, "tcp-ece": 0x40, "tcp-cwr": 0x80,
}

// operators lists the punctuation tokens, two-character ones first so the
// longest match wins.
var operators = []struct {
	text string
	kind tokKind
}{
	{">=", tGe}, {"<=", tLe}, {"!=", tNeq}, {"==", tEq}, {"<<", tLsh},
	{">>", tRsh}, {"&&", tAnd}, {"||", tOr},
	{"+", tPlus}, {"-", tMinus}, {"*", tStar}, {"/", tSlash},
	{"%", tPercent}, {":", tColon}, {"[", tLBrack}, {"]", tRBrack},
	{"!", tNot}, {"<", tLt}, {">", tGt}, {"(", tLParen}, {")", tRParen},
	{"&", tAmp}, {"|", tPipe}, {"^", tCaret}, {"=", tEq},
}

// lex splits expr into tokens, following the longest-match rules of
// libpcap's flex scanner. The returned slice always ends with a tEOF token.
func lex(expr string) ([]token, error) {
	var toks []token
	i := 0
	for {
		for i < len(expr) && isSpace(expr[i]) {
			i++
		}
		if i == len(expr) {
			return append(toks, token{kind: tEOF, pos: i}), nil
		}
		tok, n, err := lexOne(expr, i)
		if err != nil {
			return nil, err
		}
		toks = append(toks, tok)
		i += n
	}
}

// lexOne scans the token starting at s[i] and returns it with its length.
func lexOne(s string, i int) (token, int, error) {
	c := s[i]
	switch {
	case c == '\\':
		// "\name": an identifier that is never a keyword.
		j := i + 1
		for j < len(s) && !strings.ContainsRune(" !()\n\t", rune(s[j])) {
			j++
		}
		if j == i+1 {
			return token{}, 0, errorf(i, "unexpected %q", "\\")
		}
		return token{kind: tID, pos: i, text: s[i+1 : j]}, j - i, nil
	case c == '$':
		j := i + 1
		for j < len(s) && j < i+3 && isHex(s[j]) {
			j++
		}
		if j > i+1 {
			return token{kind: tAID, pos: i, text: s[i:j]}, j - i, nil
		}
	}
	if isAlnum(c) || (c == ':' && matchV6(s[i:]) > 0) {
		return lexWord(s, i)
	}
	for _, op := range operators {
		if strings.HasPrefix(s[i:], op.text) {
			return token{kind: op.kind, pos: i, text: op.text}, len(op.text), nil
		}
	}
	return token{}, 0, errorf(i, "unexpected character %q", rune(c))
}

// lexWord scans a word: keyword, number, address or identifier. Like flex,
// it picks the longest match, and on a tie the pattern listed first in
// libpcap's scanner (keywords, MAC, number, IPv4, IPv6, named constant,
// identifier).
func lexWord(s string, i int) (token, int, error) {
	idLen := matchID(s[i:])
	macLen := matchMAC(s[i:])
	numLen := matchNum(s[i:])
	hidLen := matchHID(s[i:])
	v6Len := matchV6(s[i:])
	best := max(idLen, macLen, numLen, hidLen, v6Len)
	if best == 0 {
		return token{}, 0, errorf(i, "unexpected character %q", rune(s[i]))
	}
	text := s[i : i+best]
	tok := token{pos: i, text: text}
	switch {
	case idLen == best && keywords[text] != 0:
		tok.kind = keywords[text]
	case macLen == best:
		tok.kind = tEID
	case numLen == best:
		v, err := parseNum(text)
		if err != nil {
			return token{}, 0, errorf(i, "%v", err)
		}
		tok.kind, tok.num = tNum, v
	case hidLen == best:
		tok.kind = tHID
	case v6Len == best:
		tok.kind = tHID6
	default:
		if v, ok := namedConstants[text]; ok {
			tok.kind, tok.num = tNum, v
		} else {
			tok.kind = tID
		}
	}
	return tok, best, nil
}

// matchID returns the length of the longest prefix of s matching libpcap's
// identifier pattern [A-Za-z0-9]([-_.A-Za-z0-9]*[.A-Za-z0-9])?.
func matchID(s string) int {
	if s == "" || !isAlnum(s[0]) {
		return 0
	}
	n := 1
	for n < len(s) && (isAlnum(s[n]) || s[n] == '-' || s[n] == '_' || s[n] == '.') {
		n++
	}
	for n > 1 && (s[n-1] == '-' || s[n-1] == '_') {
		n--
	}
	return n
}

// matchNum returns the length of the longest prefix of s that is a number:
// decimal digits, or 0x followed by hex digits.
func matchNum(s string) int {
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && isHex(s[2]) {
		n := 3
		for n < len(s) && isHex(s[n]) {
			n++
		}
		return n
	}
	n := 0
	for n < len(s) && isDigit(s[n]) {
		n++
	}
	return n
}

// matchHID returns the length of the longest prefix of s that is 2 to 4
// numbers separated by dots.
func matchHID(s string) int {
	best, n := 0, 0
	for parts := 1; parts <= 4; parts++ {
		l := matchNum(s[n:])
		if l == 0 {
			break
		}
		n += l
		if parts >= 2 {
			best = n
		}
		if n >= len(s) || s[n] != '.' {
			break
		}
		n++
	}
	return best
}

// matchV6 returns the length of the longest prefix of s that is an IPv6
// address literal.
func matchV6(s string) int {
	n := 0
	for n < len(s) && (isHex(s[n]) || s[n] == ':' || s[n] == '.') {
		n++
	}
	for ; n >= 2; n-- {
		p := s[:n]
		if !strings.Contains(p, ":") {
			return 0
		}
		if a, err := netip.ParseAddr(p); err == nil && a.Is6() && a.Zone() == "" {
			return n
		}
	}
	return 0
}

// matchMAC returns the length of the longest prefix of s in one of the
// Ethernet address notations libpcap's scanner accepts.
func matchMAC(s string) int {
	best := 0
	// xx:xx:xx:xx:xx:xx, xx-xx-..., xx.xx.... with 1 or 2 hex digits per part.
	for _, sep := range []byte{':', '-', '.'} {
		n := 0
		ok := true
		for part := 0; part < 6; part++ {
			l := 0
			for l < 2 && n+l < len(s) && isHex(s[n+l]) {
				l++
			}
			if l == 0 {
				ok = false
				break
			}
			n += l
			if part < 5 {
				if n >= len(s) || s[n] != sep {
					ok = false
					break
				}
				n++
			}
		}
		if ok {
			best = max(best, n)
		}
	}
	// xxxx.xxxx.xxxx
	if len(s) >= 14 && allHex(s[0:4]) && s[4] == '.' && allHex(s[5:9]) && s[9] == '.' && allHex(s[10:14]) {
		best = max(best, 14)
	}
	// xxxxxxxxxxxx
	if len(s) >= 12 && allHex(s[:12]) {
		best = max(best, 12)
	}
	return best
}

// parseNum converts a number token like libpcap: 0x prefix is hex, a
// leading 0 is octal, anything else decimal. Values must fit in 32 bits.
func parseNum(text string) (uint32, error) {
	base, digits := uint64(10), text
	switch {
	case len(text) > 2 && (text[:2] == "0x" || text[:2] == "0X"):
		base, digits = 16, text[2:]
	case len(text) > 1 && text[0] == '0':
		base, digits = 8, text[1:]
	}
	var v uint64
	for _, c := range []byte(digits) {
		var d uint64
		switch {
		case isDigit(c):
			d = uint64(c - '0')
		case c >= 'a' && c <= 'f':
			d = uint64(c-'a') + 10
		case c >= 'A' && c <= 'F':
			d = uint64(c-'A') + 10
		}
		if d >= base {
			return 0, fmt.Errorf("number %s contains non-octal digit", text)
		}
		v = v*base + d
		if v > 0xffffffff {
			return 0, fmt.Errorf("number %s overflows 32 bits", text)
		}
	}
	return uint32(v), nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isHex(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}
func isAlnum(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}
func allHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}
