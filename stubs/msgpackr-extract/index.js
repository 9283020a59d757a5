// msgpackr loads this optionally inside try/catch; failing here selects its pure-JavaScript decoder.
throw new Error('msgpackr-extract is not used by tsweave');
