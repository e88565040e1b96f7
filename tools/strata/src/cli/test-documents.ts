// Small documents the CLI tests write to temporary files.

/** A libvirt domain with a two-image chain, as libvirt writes it (inactive form). */
export const DOMAIN = `<domain type='kvm'>
  <name>guest</name>
  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>
  <memory unit='KiB'>219136</memory>
  <vcpu placement='static'>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
  </os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='none'/>
      <source file='/var/lib/images/top.qcow2'/>
      <backingStore type='file'>
        <format type='qcow2'/>
        <source file='/var/lib/images/base.qcow2'/>
        <backingStore/>
      </backingStore>
      <target dev='vda' bus='virtio'/>
    </disk>
  </devices>
</domain>
`;

/** The same domain written loosely: other attribute order, spacing, units, a comment. */
export const DOMAIN_LOOSE = `<?xml version="1.0"?>
<!-- written by hand -->
<domain type="kvm">
<name>guest</name>
<uuid>C7A5FDBD-EDAF-9455-926A-D65C16DB1809</uuid>
<memory unit="MiB">214</memory>
<vcpu>1</vcpu>
<os><type machine="pc" arch="x86_64">hvm</type></os>
<devices>
<disk device="disk" type="file">
<target bus="virtio" dev="vda"/>
<backingStore type="file"><source file="/var/lib/images/base.qcow2"/><format type="qcow2"/><backingStore/></backingStore>
<source file="/var/lib/images/top.qcow2"></source>
<driver cache="none" type="qcow2" name="qemu"/>
</disk>
</devices>
</domain>
`;

/** A live-form disk in the middle of an active commit. */
export const LIVE_DOMAIN = DOMAIN.replace(
  "<source file='/var/lib/images/top.qcow2'/>",
  "<source file='/var/lib/images/top.qcow2' index='2'/>",
)
  .replace("<backingStore type='file'>", "<backingStore type='file' index='1'>")
  .replace(
    "      <target dev='vda'",
    "      <mirror type='file' job='active-commit' ready='yes'>\n        <format type='qcow2'/>\n        <source file='/var/lib/images/base.qcow2' index='1'/>\n      </mirror>\n      <target dev='vda'",
  );

/** A snapshot request libvirt's schema refuses (startupPolicy on a snapshot source). */
export const BAD_SNAPSHOT = `<domainsnapshot>
  <name>s1</name>
  <disks>
    <disk name='vda' snapshot='external'>
      <source file='/tmp/foo' startupPolicy='optional'/>
    </disk>
  </disks>
</domainsnapshot>
`;

/** A semantically broken replication setup: the reference names nothing. */
export const DANGLING_REFERENCE = `<domain type='kvm'>
  <name>colo</name>
  <memory unit='KiB'>1048576</memory>
  <os>
    <type arch='x86_64'>hvm</type>
  </os>
  <devices>
    <disk type='replication' device='disk'>
      <source mode='secondary' index='4'/>
      <backingStore type='file' index='3'>
        <format type='qcow2'/>
        <source file='/colo/active.qcow2'/>
        <backingStore type='file' index='2'>
          <format type='qcow2'/>
          <source file='/colo/hidden.qcow2'/>
          <backingStore type='replication'>
            <reference dev='colo-vda' index='1'/>
          </backingStore>
        </backingStore>
      </backingStore>
      <target dev='vda' bus='virtio'/>
    </disk>
  </devices>
</domain>
`;
