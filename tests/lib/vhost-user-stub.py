#!/usr/bin/env python3
"""A vhost-user back end for the tests, where Debian ships none (scsi)
or one too heavy to start per test (net).

  vhost-user-stub.py --socket PATH [--client] [--kind scsi|null] [--log FILE]

Answers the vhost-user handshake (GET_FEATURES etc.), maps guest memory
(SET_MEM_TABLE), and for --kind scsi answers every virtio-scsi request with
VIRTIO_SCSI_S_BAD_TARGET and every control request with VIRTIO_SCSI_S_OK, so
that the guest's SCSI scan ends at once with no disk. --kind null never
touches the rings.  One connection at a time; when QEMU disconnects it waits
for (server) or makes (client) the next one.
"""
import argparse, array, mmap, os, select, socket, struct, sys, time

VERSION_1 = 1 << 32
PROTOCOL_FEATURES = 1 << 30  # needed: without it QEMU 7.2 assumes 0 memory slots
names = {1: 'GET_FEATURES', 2: 'SET_FEATURES', 3: 'SET_OWNER', 4: 'RESET_OWNER', 5: 'SET_MEM_TABLE',
         8: 'SET_VRING_NUM', 9: 'SET_VRING_ADDR', 10: 'SET_VRING_BASE', 11: 'GET_VRING_BASE',
         12: 'SET_VRING_KICK', 13: 'SET_VRING_CALL', 14: 'SET_VRING_ERR', 15: 'GET_PROTOCOL_FEATURES',
         16: 'SET_PROTOCOL_FEATURES', 17: 'GET_QUEUE_NUM', 18: 'SET_VRING_ENABLE', 24: 'GET_CONFIG'}


def log(*a):
    print('%.3f' % time.time(), *a, file=LOG, flush=True)


class VQ:
    def __init__(self):
        self.num = 0
        self.desc = self.avail = self.used = None
        self.last_avail = 0
        self.kick = self.call = None


class Conn:
    def __init__(self, s, kind):
        self.s, self.kind = s, kind
        self.regions = []  # (gpa, size, uva, mm, off)
        self.vqs = {}

    def vq(self, i):
        return self.vqs.setdefault(i, VQ())

    def recv_msg(self):
        fds = array.array('i')
        data, anc, flags, _ = self.s.recvmsg(12, socket.CMSG_SPACE(8 * 4))
        if not data:
            return None
        for level, typ, cd in anc:
            if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                fds.frombytes(cd[:len(cd) - (len(cd) % fds.itemsize)])
        while len(data) < 12:
            more = self.s.recv(12 - len(data))
            if not more:
                return None
            data += more
        req, flg, size = struct.unpack('<III', data)
        payload = b''
        while len(payload) < size:
            more = self.s.recv(size - len(payload))
            if not more:
                return None
            payload += more
        return req, flg, payload, list(fds)

    def reply(self, req, payload):
        self.s.sendall(struct.pack('<III', req, 0x1 | 0x4, len(payload)) + payload)

    def gpa(self, addr, length):
        for gpa, size, uva, mm, off in self.regions:
            if gpa <= addr and addr + length <= gpa + size:
                return mm, off + addr - gpa
        raise ValueError('gpa %x not mapped' % addr)

    def uva(self, addr):
        for gpa, size, uva, mm, off in self.regions:
            if uva <= addr < uva + size:
                return mm, off + addr - uva
        raise ValueError('uva %x not mapped' % addr)

    def handle(self, req, flg, p, fds):
        name = names.get(req, str(req))
        if req == 1:
            self.reply(req, struct.pack('<Q', VERSION_1 | PROTOCOL_FEATURES))
        elif req == 15:
            self.reply(req, struct.pack('<Q', 0))
        elif req == 17:
            self.reply(req, struct.pack('<Q', 1))
        elif req == 5:
            n = struct.unpack_from('<I', p)[0]
            for mm in self.regions:
                pass
            self.regions = []
            for i in range(n):
                gpa, size, uva, moff = struct.unpack_from('<QQQQ', p, 8 + 32 * i)
                mm = mmap.mmap(fds[i], moff + size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
                os.close(fds[i])
                self.regions.append((gpa, size, uva, mm, moff))
            log('mem table', [(hex(r[0]), hex(r[1])) for r in self.regions])
        elif req == 8:
            i, num = struct.unpack('<II', p[:8]); self.vq(i).num = num
        elif req == 9:
            i, f, d, u, a, _ = struct.unpack('<IIQQQQ', p[:40])
            v = self.vq(i); v.desc, v.used, v.avail = self.uva(d), self.uva(u), self.uva(a)
        elif req == 10:
            i, num = struct.unpack('<II', p[:8]); self.vq(i).last_avail = num
        elif req == 11:
            i = struct.unpack('<I', p[:4])[0]; v = self.vq(i)
            self.reply(req, struct.pack('<II', i, v.last_avail))
            if v.kick is not None:
                os.close(v.kick); v.kick = None
        elif req in (12, 13, 14):
            u = struct.unpack('<Q', p[:8])[0]; i = u & 0xff
            fd = fds[0] if fds and not (u & 0x100) else None
            if req == 12:
                self.vq(i).kick = fd
            elif req == 13:
                v = self.vq(i)
                if v.call is not None:
                    os.close(v.call)
                v.call = fd
                # QEMU replaces the call fd after the rings start: a used
                # buffer signalled on the old one would never reach the
                # guest, so signal once on the new one (harmless if idle)
                if fd is not None:
                    os.write(fd, struct.pack('<Q', 1))
            elif fd is not None:
                os.close(fd)
        elif req == 24:
            self.reply(req, p)  # echo: no config support
        else:
            for fd in fds:
                os.close(fd)
        log('<-', name, 'flags=%x size=%d fds=%d' % (flg, len(p), len(fds)))
        if flg & 0x8:  # NEED_REPLY (only with REPLY_ACK, which we never offer)
            self.reply(req, struct.pack('<Q', 0))

    def process(self, i):
        v = self.vqs[i]
        if v.avail is None or self.kind != 'scsi' or i == 1:
            return
        amm, aoff = v.avail
        umm, uoff = v.used
        dmm, doff = v.desc
        avail_idx = struct.unpack_from('<H', amm, aoff + 2)[0]
        used_idx = struct.unpack_from('<H', umm, uoff + 2)[0]
        n = 0
        while v.last_avail != avail_idx:
            head = struct.unpack_from('<H', amm, aoff + 4 + 2 * (v.last_avail % v.num))[0]
            rd, wr = [], []
            d = head
            while True:
                addr, ln, fl, nxt = struct.unpack_from('<QIHH', dmm, doff + 16 * d)
                (wr if fl & 2 else rd).append((addr, ln))
                if not fl & 1:
                    break
                d = nxt
            req = b''.join(bytes(self.gpa(a, l)[0][self.gpa(a, l)[1]:self.gpa(a, l)[1] + l]) for a, l in rd)
            if i == 0:  # control queue
                typ = struct.unpack_from('<I', req)[0] if len(req) >= 4 else 0
                resp = struct.pack('<IB', 0, 0) if typ in (1, 2) else struct.pack('<B', 0)  # AN: event_actual,response
            else:
                lun = req[:8]
                cdb = req[19:19 + 6]
                resp = struct.pack('<IIHBB', 0, 0, 0, 0, 3) + bytes(96)  # response = VIRTIO_SCSI_S_BAD_TARGET
                log('scsi req lun=%s cdb=%s -> BAD_TARGET' % (lun.hex(), cdb.hex()))
            written = 0
            for a, l in wr:
                chunk = resp[written:written + l]
                if not chunk:
                    break
                mm, off = self.gpa(a, len(chunk))
                mm[off:off + len(chunk)] = chunk
                written += len(chunk)
            struct.pack_into('<II', umm, uoff + 4 + 8 * (used_idx % v.num), head, written)
            used_idx = (used_idx + 1) & 0xffff
            v.last_avail = (v.last_avail + 1) & 0xffff
            n += 1
        if n:
            struct.pack_into('<H', umm, uoff + 2, used_idx)
            if v.call is not None:
                os.write(v.call, struct.pack('<Q', 1))

    def run(self):
        while True:
            kicks = {v.kick: i for i, v in self.vqs.items() if v.kick is not None}
            r, _, _ = select.select([self.s] + list(kicks), [], [], 1.0)
            for fd in r:
                if fd is self.s:
                    m = self.recv_msg()
                    if m is None:
                        log('peer closed')
                        return
                    self.handle(*m)
                elif fd in kicks:
                    try:
                        os.read(fd, 8)
                    except OSError:
                        pass
                    self.process(kicks[fd])


def main():
    global LOG
    ap = argparse.ArgumentParser()
    ap.add_argument('--socket', required=True)
    ap.add_argument('--client', action='store_true')
    ap.add_argument('--kind', default='scsi')
    ap.add_argument('--log')
    a = ap.parse_args()
    LOG = open(a.log, 'a') if a.log else sys.stderr
    if not a.client:
        if os.path.exists(a.socket):
            os.unlink(a.socket)
        ls = socket.socket(socket.AF_UNIX)
        ls.bind(a.socket)
        ls.listen(1)
    while True:
        if a.client:
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(a.socket)
            except OSError:
                time.sleep(0.5)
                continue
        else:
            s, _ = ls.accept()
        log('connected')
        try:
            Conn(s, a.kind).run()
        except Exception as e:
            log('error', repr(e))
        s.close()


if __name__ == '__main__':
    main()
