"""target=hcloud under Pulumi's mocks."""

import pytest

from tests.unit import harness as h


@pytest.fixture(scope="module")
def result():
    return h.run(h.base_config("hcloud"))


def test_server_on_the_pbx_network_with_fixed_ip(result):
    vm = result.mocks.one("hcloud:index/server:Server").inputs
    assert vm["image"] == "ubuntu-24.04"
    assert vm["serverType"] == "ccx53"
    assert vm["location"] == "fsn1"
    assert vm["networks"] == [{"networkId": 4242, "ip": h.IM_PRIVATE}]
    primary_ip = result.mocks.one("hcloud:index/primaryIp:PrimaryIp")
    assert (
        vm["publicNets"][0]["ipv4Enabled"] is True and vm["publicNets"][0]["ipv6Enabled"] is False
    )
    assert vm["publicNets"][0]["ipv4"] == int(primary_ip.id)
    firewall = result.mocks.one("hcloud:index/firewall:Firewall")
    assert vm["firewallIds"] == [int(firewall.id)]
    assert "userData" not in vm
    assert vm["labels"]["portsip-im-stack"] == "dev"


def test_data_volume_is_protected_and_server_keeps_running(result):
    assert result.mocks.one("hcloud:index/volume:Volume").options["protect"] is True
    vm = result.mocks.one("hcloud:index/server:Server")
    assert sorted(vm.options["ignore_changes"]) == ["image", "sshKeys"]
    key = result.mocks.one("hcloud:index/sshKey:SshKey")
    assert key.inputs["publicKey"] == h.base_config("hcloud")["sshPublicKey"]
    assert vm.inputs["sshKeys"] == [key.id]


def test_primary_ip_survives_the_server(result):
    ip = result.mocks.one("hcloud:index/primaryIp:PrimaryIp").inputs
    assert ip["autoDelete"] is False and ip["type"] == "ipv4" and ip["assigneeType"] == "server"


def test_firewall(result):
    fw = result.mocks.one("hcloud:index/firewall:Firewall").inputs
    by_port = {rule["port"]: rule for rule in fw["rules"]}
    assert set(by_port) == {"8887", "22"}
    assert by_port["8887"]["sourceIps"] == ["0.0.0.0/0", "::/0"]
    assert by_port["22"]["sourceIps"] == ["192.168.1.11/32", "198.51.100.0/24"]
    assert all(rule["direction"] == "in" and rule["protocol"] == "tcp" for rule in fw["rules"])


def test_data_volume(result):
    vol = result.mocks.one("hcloud:index/volume:Volume").inputs
    assert vol["size"] == 256 and vol["location"] == "fsn1"
    assert "format" not in vol and "automount" not in vol
    att = result.mocks.one("hcloud:index/volumeAttachment:VolumeAttachment").inputs
    assert att["automount"] is False


def test_outputs(result):
    assert result.exports["imPublicIp"] == h.HCLOUD_IP
    assert result.exports["imEndpoint"] == f"{h.HCLOUD_IP}:8887"
    assert result.exports["imPrivateIp"] == h.IM_PRIVATE
    assert result.exports["dataVolumeId"].isdigit()


def test_bigger_disk_and_custom_clients():
    r = h.run({**h.base_config("hcloud"), "dataDiskGb": "1024", "clientCidrs": '["10.8.0.0/16"]'})
    assert r.mocks.one("hcloud:index/volume:Volume").inputs["size"] == 1024
    fw = r.mocks.one("hcloud:index/firewall:Firewall").inputs
    assert fw["rules"][0]["sourceIps"] == ["10.8.0.0/16"]
