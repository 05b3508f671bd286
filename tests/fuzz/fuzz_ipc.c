/* Fuzz the monitor's validator of hub messages: the first 4 bytes pick the type. */
#include <stdint.h>
#include <string.h>

#include "ipc/ipc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static _Alignas(8) uint8_t buf[IPC_MAX_MSG];
	uint32_t type;

	if (size < 4 || size - 4 > sizeof(buf))
		return 0;
	memcpy(&type, data, 4);
	memcpy(buf, data + 4, size - 4);
	/* also exercise the typical types regardless of the prefix */
	(void)ipc_validate(type, buf, size - 4);
	(void)ipc_validate(IPC_AUDIT, buf, size - 4);
	(void)ipc_validate(IPC_SPAWN, buf, size - 4);
	return 0;
}
