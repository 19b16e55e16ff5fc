/*
 * test_privs.c: -Z USER (src/common/privs.h).  The switch itself needs root
 * and runs in a forked child (SKIP otherwise): ids change, uid 0 and
 * capabilities cannot be regained, a packet socket opened before keeps
 * working while a new one is refused.
 */
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/privs.h"
#include "testlib.h"

static void test_unknown_user_message(void)
{
    char err[256] = "";
    CHECK(privs_drop("netmoon-no-such-user", err, sizeof(err)) == PRIVS_ERR_NO_USER);
    CHECK(strstr(err, "netmoon-no-such-user") && strstr(err, "no such user"));
}

/* Child: returns a bit per failed check. */
static int child_drop(uid_t want_uid)
{
    int bad = 0;
    int before = socket(AF_PACKET, SOCK_RAW, 0);
    char err[256] = "";
    if (privs_drop("nobody", err, sizeof(err)) != PRIVS_OK)
        return 1;
    if (getuid() != want_uid || geteuid() != want_uid)
        bad |= 2;
    if (setuid(0) == 0 || seteuid(0) == 0)
        bad |= 4;
    int after = socket(AF_PACKET, SOCK_RAW, 0);
    if (after >= 0 || (errno != EPERM && errno != EACCES))
        bad |= 8;
    int version = 0;
    socklen_t len = sizeof(version);
    if (before < 0 || getsockopt(before, SOL_PACKET, PACKET_VERSION, &version, &len) != 0)
        bad |= 16;
    gid_t groups[8];
    int n = getgroups(8, groups);
    for (int i = 0; i < n; i++)
        if (groups[i] == 0)
            bad |= 32;
    return bad;
}

static void test_drop_to_nobody(void)
{
    struct passwd *pw = getpwnam("nobody");
    if (geteuid() != 0 || !pw) {
        printf("SKIP test_drop_to_nobody: needs root and a user nobody\n");
        return;
    }
    uid_t uid = pw->pw_uid;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        _exit(child_drop(uid));
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK_EQ_U(WEXITSTATUS(status), 0);
    printf("PASS test_drop_to_nobody\n");
}

int main(void)
{
    RUN(test_unknown_user_message);
    /* Prints its own PASS/SKIP so that a skip is not also counted a pass. */
    testlib_current = "test_drop_to_nobody";
    test_drop_to_nobody();
    if (testlib_current_failed)
        testlib_failures++;
    TESTLIB_EXIT();
}
