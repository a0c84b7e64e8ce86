# shellcheck shell=bash
# needs: lib.sh
# pbx01-check: pbx01 is the node the guide runs everything on. Check it has PortSIP's HA helper and
# runs REQUIRED_OS; prepare holds the IM host to the same, so both run the same OS version.
: "${GUIDE_DIR:=/opt/portsip-pbx-ha-guide}" "${REQUIRED_OS:=ubuntu 24.04}"

[ -f "$GUIDE_DIR/im.sh" ] || die "$GUIDE_DIR/im.sh not found on pbx01: install PortSIP's HA guide scripts there first"
# shellcheck disable=SC1091
. /etc/os-release
[ "$ID $VERSION_ID" = "$REQUIRED_OS" ] || die "pbx01 runs $ID $VERSION_ID but {{prepare.required_os}} is $REQUIRED_OS; the IM host must run the same OS version as the PBX nodes"
say "pbx01 runs $ID $VERSION_ID; $GUIDE_DIR/im.sh present"
