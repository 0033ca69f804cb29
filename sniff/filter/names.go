package filter

// Protocol numbers used by the compiler.
const (
	protoICMP   = 1
	protoIGMP   = 2
	protoTCP    = 6
	protoIGRP   = 9
	protoUDP    = 17
	protoFrag   = 44 // IPv6 fragment header
	protoESP    = 50
	protoAH     = 51
	protoICMPv6 = 58
	protoPIM    = 103
	protoVRRP   = 112
	protoSCTP   = 132

	protoUndef = -1 // port names valid for TCP and UDP alike
)

// service is a well-known port name. tcpdump looks names up in
// /etc/services, for TCP and for UDP: a name listed only for TCP makes
// "port NAME" match TCP only. This table is the corresponding part of
// Debian's /etc/services (netbase), so that results do not depend on the
// machine.
type service struct {
	port     uint32
	tcp, udp bool
}

var services = map[string]service{
	"ftp-data":      {20, true, false},
	"ftp":           {21, true, false},
	"ssh":           {22, true, false},
	"telnet":        {23, true, false},
	"smtp":          {25, true, false},
	"mail":          {25, true, false},
	"domain":        {53, true, true},
	"bootps":        {67, false, true},
	"bootpc":        {68, false, true},
	"tftp":          {69, false, true},
	"http":          {80, true, false},
	"www":           {80, true, false},
	"kerberos":      {88, true, true},
	"pop3":          {110, true, false},
	"nntp":          {119, true, false},
	"ntp":           {123, false, true},
	"netbios-ns":    {137, false, true},
	"netbios-dgm":   {138, false, true},
	"netbios-ssn":   {139, true, false},
	"imap2":         {143, true, false},
	"imap":          {143, true, false},
	"snmp":          {161, true, true},
	"snmp-trap":     {162, true, true},
	"bgp":           {179, true, false},
	"ldap":          {389, true, true},
	"https":         {443, true, true},
	"microsoft-ds":  {445, true, false},
	"isakmp":        {500, false, true},
	"syslog":        {514, false, true},
	"printer":       {515, true, false},
	"dhcpv6-client": {546, false, true},
	"dhcpv6-server": {547, false, true},
	"submission":    {587, true, false},
	"ipp":           {631, true, false},
	"ldaps":         {636, true, true},
	"domain-s":      {853, true, true},
	"rsync":         {873, true, false},
	"imaps":         {993, true, false},
	"pop3s":         {995, true, false},
	"socks":         {1080, true, false},
	"openvpn":       {1194, true, true},
	"mysql":         {3306, true, false},
	"ms-wbt-server": {3389, true, false},
	"sip":           {5060, true, true},
	"sip-tls":       {5061, true, true},
	"mdns":          {5353, false, true},
	"postgresql":    {5432, true, false},
	"postgres":      {5432, true, false},
	"redis":         {6379, true, false},
	"http-alt":      {8080, true, false},
	"webcache":      {8080, true, false},
}

// protocols maps IP protocol names (as in /etc/protocols) to numbers, for
// "proto NAME" (written "proto \tcp" for names that are keywords).
var protocols = map[string]uint32{
	"ip": 0, "IP": 0,
	"icmp": 1, "ICMP": 1,
	"igmp": 2, "IGMP": 2,
	"ipencap": 4, "IP-ENCAP": 4,
	"tcp": 6, "TCP": 6,
	"egp": 8, "EGP": 8,
	"igp": 9, "IGP": 9,
	"udp": 17, "UDP": 17,
	"ipv6": 41, "IPv6": 41,
	"ipv6-frag": 44, "IPv6-Frag": 44,
	"rsvp": 46, "RSVP": 46,
	"gre": 47, "GRE": 47,
	"esp": 50, "IPSEC-ESP": 50,
	"ah": 51, "IPSEC-AH": 51,
	"ipv6-icmp": 58, "IPv6-ICMP": 58,
	"ospf": 89, "OSPFIGP": 89,
	"ipip": 94, "IPIP": 94,
	"pim": 103, "PIM": 103,
	"vrrp": 112, "VRRP": 112,
	"l2tp": 115, "L2TP": 115,
	"sctp": 132, "SCTP": 132,
	"udplite": 136, "UDPLite": 136,
}
