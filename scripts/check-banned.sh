#!/bin/sh
# STYLE.md: these functions are banned in src/ (curl checksrc style).
cd "$(dirname "$0")/.."
hits=$(grep -rnE '\b(sprintf|strcpy|strcat|strncpy|strtok|atoi|gets|system|popen|alloca)[[:space:]]*\(' src \
	--include='*.c' --include='*.h' | grep -vE 'snprintf|vsnprintf')
if [ -n "$hits" ]; then
	echo "banned functions used:"
	echo "$hits"
	exit 1
fi
echo "no banned functions"
