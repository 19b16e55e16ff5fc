/*
 * procs_owner.bpf.c: the eBPF side of process attribution's BPF source
 * (src/procs/procs_bpf.h).  Kernel interfaces: BTF-enabled raw tracepoints
 * (BPF_PROG_TYPE_TRACING, attach type BPF_TRACE_RAW_TP) on the
 * include/trace/events/sock.h events sock_send_length and sock_recv_length
 * (Linux 6.3+, TP_PROTO(struct sock *sk, int ret, int flags)) and
 * inet_sock_set_state (TP_PROTO(const struct sock *sk, const int oldstate,
 * const int newstate)); CO-RE field relocations against the running
 * kernel's BTF (/sys/kernel/btf/vmlinux).
 *
 * Why these hooks: a socket's owner is only certain while the owner is
 * running on the CPU, and a short-lived client may be gone before any
 * userspace scan looks.  send and recv run in the caller's context with the
 * port already bound, so the tuple and the owner are both at hand.  A TCP
 * connect that is refused never sends or receives; its owner is taken at
 * SYN_SENT (still in connect(), before an automatic source port is chosen)
 * and written under the tuple at the socket's next state change, which may
 * run in softirq context where the current task is unrelated.
 *
 * A tuple outlives its socket: a reset connection's port is free at once,
 * and the next socket on it may not send for a round trip.  So CLOSE marks
 * the entry closed (userspace names a closed entry only for packets of
 * about that time), and an owner that cannot be named (a kernel thread, a
 * process outside the monitor's pid namespace) is written as tgid 0 rather
 * than left to the tuple's previous owner.
 *
 * kprobes and fentry are not used: they need a kprobe PMU or trampolines
 * that locked-down kernels (and this project's test machines) refuse.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

/* Only the fields read here; preserve_access_index makes each access a
 * CO-RE relocation by field name, so the layout below need not match the
 * kernel's (anonymous unions included: libbpf looks through them). */
struct ns_common {
    unsigned int inum;
} __attribute__((preserve_access_index));

struct net {
    struct ns_common ns;
} __attribute__((preserve_access_index));

struct in6_addr {
    union {
        __u8 u6_addr8[16];
    } in6_u;
} __attribute__((preserve_access_index));

struct sock_common {
    volatile unsigned char skc_state;
    __be32 skc_daddr;
    __be32 skc_rcv_saddr;
    __be16 skc_dport;
    __u16 skc_num;
    unsigned short skc_family;
    struct {
        struct net *net;
    } skc_net;
    struct in6_addr skc_v6_daddr;
    struct in6_addr skc_v6_rcv_saddr;
} __attribute__((preserve_access_index));

struct sock {
    struct sock_common __sk_common;
    __u16 sk_protocol;
} __attribute__((preserve_access_index));

/* Every TCP and UDP socket, v4 or v6, starts with an inet_sock. */
struct inet_sock {
    __be16 inet_sport;
} __attribute__((preserve_access_index));

struct task_struct {
    unsigned int flags;
    struct task_struct *group_leader;
    char comm[16];
} __attribute__((preserve_access_index));

#define NM_AF_INET 2
#define NM_AF_INET6 10
#define NM_IPPROTO_TCP 6
#define NM_IPPROTO_UDP 17
#define NM_TCP_SYN_SENT 2
#define NM_TCP_CLOSE 7
#define NM_PF_KTHREAD 0x00200000u       /* include/linux/sched.h */
/* An owner entry is rewritten at most this often for the same process:
 * the timestamp tells userspace a wildcard (unconnected UDP) socket is still
 * in use, and every send writing the map would cost more than it tells. */
#define NM_REFRESH_NS 250000000ull

/* Must match struct procs_bpf_key / procs_bpf_owner in procs_bpf.c. */
struct nm_sock_key {
    __u8 local[16];             /* IPv4 as ::ffff:a.b.c.d; the wildcard is all zeros */
    __u8 remote[16];
    __u16 local_port;           /* host order */
    __u16 remote_port;
    __u8 proto;
    __u8 pad[3];
};

struct nm_sock_owner {
    __u32 tgid;                 /* 0: a socket whose user has no pid to name */
    __u32 pad;
    __u64 seen_ns;              /* bpf_ktime_get_ns: CLOCK_MONOTONIC */
    __u64 closed_ns;            /* when the TCP socket reached CLOSE; 0: open */
    char comm[16];
};

/* Userspace sets this before load.  netns_ino (stat of /proc/self/ns/net):
 * sockets of other network namespaces are not the monitor's to attribute,
 * and their tuples could collide with this namespace's.  pidns_dev and
 * pidns_ino (stat of /proc/self/ns/pid): pids as the monitor's /proc
 * numbers them, not the initial namespace's (netmoon in a container).
 * Zeros: no filter, initial-namespace pids. */
const volatile struct {
    __u64 pidns_dev;
    __u64 pidns_ino;
    __u32 netns_ino;
    __u32 pad;
} nm_cfg = { 0 };

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 16384);
    __type(key, struct nm_sock_key);
    __type(value, struct nm_sock_owner);
} nm_owners SEC(".maps");

/* Connecting TCP sockets (by address) → who called connect(). */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 4096);
    __type(key, __u64);
    __type(value, struct nm_sock_owner);
} nm_connecting SEC(".maps");

static __always_inline int nm_in_netns(const struct sock *sk)
{
    if (nm_cfg.netns_ino == 0)
        return 1;
    return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum) == nm_cfg.netns_ino;
}

static __always_inline void nm_v4_mapped(__u8 out[16], __be32 a)
{
    __builtin_memset(out, 0, 16);
    if (a == 0)
        return;                           /* INADDR_ANY: the wildcard */
    out[10] = 0xff;
    out[11] = 0xff;
    __builtin_memcpy(out + 12, &a, 4);
}

static __always_inline void nm_v6(__u8 out[16], const struct in6_addr *src)
{
    __u64 w[2];
    __u32 tail[2];

    bpf_probe_read_kernel(w, sizeof(w), src);
    __builtin_memcpy(tail, &w[1], sizeof(tail));
    /* ::ffff:0.0.0.0 is the v4 wildcard on a dual-stack socket.  Bytes 8..11
     * are 00 00 ff ff in network order: compared as bytes, not as a host
     * integer, so the check holds on either byte order. */
    const __u8 *b = (const __u8 *)&tail[0];
    if (w[0] == 0 && tail[1] == 0 &&
        (tail[0] == 0 || (b[0] == 0 && b[1] == 0 && b[2] == 0xff && b[3] == 0xff)))
        w[1] = 0;
    __builtin_memcpy(out, w, 16);
}

/* Returns 0 when sk is not a TCP or UDP socket of a family we read. */
static __always_inline int nm_key_of(const struct sock *sk, struct nm_sock_key *k)
{
    __u16 proto = BPF_CORE_READ(sk, sk_protocol);
    unsigned short family = BPF_CORE_READ(sk, __sk_common.skc_family);

    if (proto != NM_IPPROTO_TCP && proto != NM_IPPROTO_UDP)
        return 0;
    __builtin_memset(k, 0, sizeof(*k));
    k->proto = (__u8)proto;
    /* inet_sport, not skc_num: inet_sock_set_state runs from
     * inet_sk_state_store, after tcp_set_state(TCP_CLOSE) has released an
     * automatically chosen port (skc_num = 0); inet_sport keeps it. */
    k->local_port = bpf_ntohs(BPF_CORE_READ((const struct inet_sock *)sk, inet_sport));
    k->remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
    if (family == NM_AF_INET) {
        nm_v4_mapped(k->local, BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr));
        nm_v4_mapped(k->remote, BPF_CORE_READ(sk, __sk_common.skc_daddr));
    } else if (family == NM_AF_INET6) {
        nm_v6(k->local, &sk->__sk_common.skc_v6_rcv_saddr);
        nm_v6(k->remote, &sk->__sk_common.skc_v6_daddr);
    } else {
        return 0;
    }
    return k->local_port != 0;
}

/* The pid of the current process as the monitor's /proc numbers it, or 0
 * when it has none to name: a kernel thread (NFS and sunrpc, MPTCP
 * subflows: the kworker that happens to run is not the socket's user), a
 * process outside the monitor's pid namespace, the idle task or an
 * interrupt on it.  The caller writes 0 rather than skipping the write, so
 * the entry never keeps the tuple's previous owner. */
static __always_inline __u32 nm_current_tgid(struct task_struct *task)
{
    __u32 tgid = (__u32)(bpf_get_current_pid_tgid() >> 32);
    struct bpf_pidns_info ns;

    if (tgid == 0 || (BPF_CORE_READ(task, flags) & NM_PF_KTHREAD))
        return 0;
    if (nm_cfg.pidns_ino == 0)
        return tgid;
    if (bpf_get_ns_current_pid_tgid(nm_cfg.pidns_dev, nm_cfg.pidns_ino, &ns, sizeof(ns)) != 0)
        return 0;
    return ns.tgid;
}

static __always_inline void nm_owner_now(struct nm_sock_owner *o)
{
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();

    __builtin_memset(o, 0, sizeof(*o));
    o->tgid = nm_current_tgid(task);
    o->seen_ns = bpf_ktime_get_ns();
    /* The process's name, not the sending thread's (dig sends from a
     * thread named isc-net-0000): the main thread's comm, as /proc/PID/comm
     * and the sock_diag path report it. */
    if (o->tgid != 0)
        BPF_CORE_READ_STR_INTO(&o->comm, task, group_leader, comm);
}

/* Process context only: the current task is the socket's user. */
static __always_inline void nm_note_io(const struct sock *sk, int ret)
{
    struct nm_sock_key k;
    struct nm_sock_owner o;

    if (ret < 0 || !nm_in_netns(sk) || !nm_key_of(sk, &k))
        return;
    /* A read of what a reset socket still had queued: the socket is
     * closed, and its tuple may already be another socket's. */
    if (k.proto == NM_IPPROTO_TCP && BPF_CORE_READ(sk, __sk_common.skc_state) == NM_TCP_CLOSE)
        return;
    nm_owner_now(&o);
    const struct nm_sock_owner *old = bpf_map_lookup_elem(&nm_owners, &k);
    if (old && old->tgid == o.tgid && old->closed_ns == 0 &&
        o.seen_ns - old->seen_ns < NM_REFRESH_NS)
        return;
    bpf_map_update_elem(&nm_owners, &k, &o, BPF_ANY);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(nm_on_send, struct sock *sk, int ret, int flags)
{
    nm_note_io(sk, ret);
    return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(nm_on_recv, struct sock *sk, int ret, int flags)
{
    nm_note_io(sk, ret);
    return 0;
}

/* The socket reached CLOSE: its entry stays (a query may still come for
 * its last packets, which the capture hands over late) but says when, so
 * userspace does not name it for a later socket on the same tuple. */
static __always_inline void nm_note_closed(const struct nm_sock_key *k)
{
    struct nm_sock_owner *old = bpf_map_lookup_elem(&nm_owners, k);

    if (old)
        old->closed_ns = bpf_ktime_get_ns();
}

/* Leaving SYN_SENT: the owner connect() left in nm_connecting goes under
 * the tuple, closed already if the connect failed.  Without one (the
 * connect began before netmoon, or LRU eviction), whatever the tuple's
 * entry says is about an earlier socket: it goes. */
static __always_inline void nm_note_connected(const struct nm_sock_owner *who,
                                              const struct nm_sock_key *k, int newstate)
{
    struct nm_sock_owner o;

    if (!who) {
        bpf_map_delete_elem(&nm_owners, k);
        return;
    }
    o = *who;
    o.seen_ns = bpf_ktime_get_ns();
    o.closed_ns = newstate == NM_TCP_CLOSE ? o.seen_ns : 0;
    bpf_map_update_elem(&nm_owners, k, &o, BPF_ANY);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(nm_on_state, struct sock *sk, int oldstate, int newstate)
{
    __u64 id = (__u64)(unsigned long)sk;
    struct nm_sock_key k;
    struct nm_sock_owner o;

    if (BPF_CORE_READ(sk, sk_protocol) != NM_IPPROTO_TCP || !nm_in_netns(sk))
        return 0;
    if (newstate == NM_TCP_SYN_SENT) {
        /* Inside connect(): the caller owns the socket.  A socket bound
         * before connect() has its tuple already, and its SYN is what
         * netmoon will ask about: written now, before the SYN leaves.  An
         * automatically chosen port comes after this event. */
        nm_owner_now(&o);
        bpf_map_update_elem(&nm_connecting, &id, &o, BPF_ANY);
        if (nm_key_of(sk, &k))
            bpf_map_update_elem(&nm_owners, &k, &o, BPF_ANY);
        return 0;
    }
    /* ESTABLISHED, or CLOSE after a reset or timeout: the addresses and
     * inet_sport are still set either way. */
    int keyed = nm_key_of(sk, &k);
    if (oldstate == NM_TCP_SYN_SENT) {
        if (keyed)
            nm_note_connected(bpf_map_lookup_elem(&nm_connecting, &id), &k, newstate);
        bpf_map_delete_elem(&nm_connecting, &id);
    } else if (newstate == NM_TCP_CLOSE && keyed) {
        nm_note_closed(&k);
    }
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
