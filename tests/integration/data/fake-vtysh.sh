#!/bin/sh
# A stand-in for vtysh that keeps a running config in files, for tests that do not need
# real FRR. It answers like FRR 8.4's vtysh (exit codes and messages pinned against real
# FRR in frr_pins.rs): configuration commands run in order and stop at the first error.
# One -c may hold several commands, one a line, as vtysh allows (the Python anycastd sends
# them so), and it answers the read-only `show bgp [vrf V] detail json` that the Python
# anycastd asks for the local ASN.
#
#   $FAKE_VTYSH_DIR/instances   "VRF ASN" lines ("-" is the default VRF)
#   $FAKE_VTYSH_DIR/networks    "VRF PREFIX" lines
#   $FAKE_VTYSH_DIR/calls       one line per call: the arguments joined by " | " (a newline
#                               inside an argument written as \n)
#   $FAKE_VTYSH_DIR/down        if present: bgpd is not running
#   $FAKE_VTYSH_DIR/hang        if present: never answers
#   $FAKE_VTYSH_DIR/record-output  if present: each call appends where its stdout and
#                               stderr go (two lines) to $FAKE_VTYSH_DIR/outputs
set -u
D=${FAKE_VTYSH_DIR:?}
touch "$D/instances" "$D/networks"
NL='
'
{
    sep=""
    for a in "$@"; do
        while :; do
            case $a in
            *"$NL"*)
                printf '%s%s\\n' "$sep" "${a%%"$NL"*}"
                a=${a#*"$NL"}
                sep=""
                ;;
            *) break ;;
            esac
        done
        printf '%s%s' "$sep" "$a"
        sep=" | "
    done
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

# -c "A<newline>B" is -c A -c B. The arguments go round once, in order.
n=$#
while [ "$n" -gt 0 ]; do
    a=$1
    shift
    n=$((n - 1))
    if [ "$a" = "-c" ] && [ "$n" -gt 0 ]; then
        c=$1
        shift
        n=$((n - 1))
        while :; do
            case $c in
            *"$NL"*)
                set -- "$@" -c "${c%%"$NL"*}"
                c=${c#*"$NL"}
                ;;
            *) break ;;
            esac
        done
        set -- "$@" -c "$c"
    else
        set -- "$@" "$a"
    fi
done

# `show bgp [vrf V] detail json` of a table with no routes, as FRR 8.4 prints it (sh
# alone, no awk: the Python anycastd runs one per prefix at once, with a deadline).
detail_json() {
    v=$1
    asn="" id=0 n=0
    while read -r iv ia; do
        n=$((n + 1))
        if [ "$iv" = "$v" ]; then
            asn=$ia id=$n
            break
        fi
    done <"$D/instances"
    if [ -z "$asn" ]; then
        if [ "$v" = "-" ]; then
            printf '{\n  "warning":"Default BGP instance not found"\n}\n'
        else
            printf '{\n  "warning":"View/Vrf is unknown"\n}\n'
        fi
        return
    fi
    if [ "$v" = "-" ]; then name=default id=0; else name=$v; fi
    printf '{\n "vrfId": %s,\n "vrfName": "%s",\n "tableVersion": 0,\n "routerId": "192.0.2.1",\n "defaultLocPrf": 100,\n "localAS": %s,\n "routes": {  }  } \n' "$id" "$name" "$asn"
}

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
    "show bgp detail json") detail_json - ;;
    "show bgp vrf "*" detail json")
        v=${cmd#show bgp vrf }
        detail_json "${v% detail json}"
        ;;
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
