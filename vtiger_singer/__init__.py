"""What the tap and the target share on top of singer-sdk.

:mod:`vtiger_singer.sdk` is the one module of the distribution allowed singer-sdk's private
names; everything else uses the SDK's public API and the public hooks defined there.
"""
