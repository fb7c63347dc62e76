/* The vmsend commands: int cmd_NAME(int argc, char **argv), argv[0] is the command name. */
#ifndef VMSEND_CLI_COMMANDS_H
#define VMSEND_CLI_COMMANDS_H

struct vms_command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

int cmd_demo(int argc, char **argv);
int cmd_cat(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_tunables(int argc, char **argv);
int cmd_incident(int argc, char **argv);
int cmd_mkimage(int argc, char **argv);
int cmd_fsck(int argc, char **argv);
int cmd_objfs(int argc, char **argv);
int cmd_cachesim(int argc, char **argv);
int cmd_rados(int argc, char **argv);
int cmd_stat(int argc, char **argv);

#endif
