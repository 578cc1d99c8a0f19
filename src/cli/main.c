/* camvault: one binary, several subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: camvault <command> [options]\n"
            "\n"
            "commands:\n"
            "  serve            run the server (RTSP relay) on the data directory\n"
            "  demo             serve, plus a synthetic camera pushing a test pattern; prints URLs\n"
            "\n"
            "administration (on the same store as a running server, which follows the changes):\n"
            "  user             add|list|passwd|disable|enable|remove users, and their app-passwords\n"
            "  home             add|list|remove homes, and member add|set|remove|list\n"
            "  camera           add|list|remove cameras (push, or --pull URL), rotate-secret\n"
            "  grant            add|list|remove a guest's expiring access to one camera\n"
            "  token            issue|revoke|list capability tokens (rtsp://.../cam/ID?token=...)\n"
            "  integration      add|list|disable|enable|remove partner platforms (OAuth account linking)\n"
            "  audit            print the audit log\n"
            "\n"
            "Getting started:\n"
            "  camvault user add alice --admin          (prints a generated password once)\n"
            "  camvault home add home --owner alice\n"
            "  camvault camera add --name porch         (prints the camera's ingest URL once)\n"
            "  camvault token issue --camera porch      (prints a viewing URL)\n"
            "\n"
            "Exit status: 0 ok, 1 the operation failed, 2 usage error.\n"
            "Run 'camvault <command> --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("camvault 0.1.0\n");
        return 0;
    }
    static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
    } cmds[] = {
        {"serve", cmd_serve}, {"demo", cmd_demo},   {"user", cmd_user},   {"home", cmd_home},
        {"camera", cmd_camera}, {"grant", cmd_grant}, {"token", cmd_token}, {"audit", cmd_audit},
        {"integration", cmd_integration},
    };
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        if (strcmp(cmd, cmds[i].name) == 0)
            return cmds[i].run(argc - 1, argv + 1);
    fprintf(stderr, "camvault: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
