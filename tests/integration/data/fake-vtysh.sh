#!/bin/sh
# A stand-in for vtysh that keeps a running config in files, for tests that do not need
# real FRR. It answers like FRR 8.4's vtysh (exit codes and messages pinned against real
# FRR in frr_pins.rs): configuration commands run in order and stop at the first error.
#
#   $FAKE_VTYSH_DIR/instances   "VRF ASN" lines ("-" is the default VRF)
#   $FAKE_VTYSH_DIR/networks    "VRF PREFIX" lines
#   $FAKE_VTYSH_DIR/calls       one line per call: the arguments joined by " | "
#   $FAKE_VTYSH_DIR/down        if present: bgpd is not running
#   $FAKE_VTYSH_DIR/hang        if present: never answers
#   $FAKE_VTYSH_DIR/record-output  if present: each call appends where its stdout and
#                               stderr go (two lines) to $FAKE_VTYSH_DIR/outputs
set -u
D=${FAKE_VTYSH_DIR:?}
touch "$D/instances" "$D/networks"
{
    sep=""
    for a in "$@"; do printf '%s%s' "$sep" "$a"; sep=" | "; done
    printf '\n'
} >>"$D/calls"
if [ -e "$D/record-output" ]; then
    out=$(readlink "/proc/$$/fd/1")
    err=$(readlink "/proc/$$/fd/2")
    printf '%s\n%s\n' "$out" "$err" >>"$D/outputs"
fi
if [ -e "$D/hang" ]; then
    exec sleep 3600
fi
if [ -e "$D/down" ]; then
    echo "Exiting: failed to connect to any daemons." >&2
    exit 1
fi

render() {
    echo "Building configuration..."
    echo
    echo "Current configuration:"
    echo "!"
    echo "frr version 8.4.4"
    echo "!"
    while read -r vrf asn; do
        if [ "$vrf" = "-" ]; then echo "router bgp $asn"; else echo "router bgp $asn vrf $vrf"; fi
        for afi in ipv4 ipv6; do
            nets=$(awk -v v="$vrf" -v afi="$afi" '$1 == v && ((afi == "ipv6") == ($2 ~ /:/)) { print "  network " $2 }' "$D/networks")
            if [ -n "$nets" ]; then
                echo " address-family $afi unicast"
                echo "$nets"
                echo " exit-address-family"
            fi
        done
        echo "exit"
        echo "!"
    done <"$D/instances"
    echo "end"
}

vrf=""
while [ $# -gt 0 ]; do
    case $1 in
    -d | -N) shift 2; continue ;;
    -c) cmd=$2; shift 2 ;;
    *) shift; continue ;;
    esac
    case $cmd in
    "show running-config") render ;;
    "configure terminal" | "exit-address-family" | "end" | "address-family ipv4 unicast" | "address-family ipv6 unicast") ;;
    exit) vrf="" ;;
    "router bgp "*)
        rest=${cmd#router bgp }
        asn=${rest%% *}
        v=-
        case $rest in *" vrf "*) v=${rest##* vrf } ;; esac
        have=$(awk -v v="$v" '$1 == v { print $2 }' "$D/instances")
        if [ -z "$have" ]; then
            echo "$v $asn" >>"$D/instances" # FRR silently creates it
        elif [ "$have" != "$asn" ]; then
            echo "BGP is already running; AS is $have"
            exit 1
        fi
        vrf=$v
        ;;
    "network "*)
        p=${cmd#network }
        grep -qxF -e "$vrf $p" "$D/networks" || echo "$vrf $p" >>"$D/networks"
        ;;
    "no network "*)
        p=${cmd#no network }
        if ! grep -qxF -e "$vrf $p" "$D/networks"; then
            echo "% Can't find static route specified"
            exit 1
        fi
        grep -vxF -e "$vrf $p" "$D/networks" >"$D/networks.new"
        mv "$D/networks.new" "$D/networks"
        ;;
    *)
        echo "% Unknown command: $cmd"
        exit 1
        ;;
    esac
done
exit 0
